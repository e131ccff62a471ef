"""
Model families: error against the number of parameters
=======================================================

How many numbers does a response curve need? Each model family is fitted to the 10 DoRF curves
held out for testing (``dorf-test``) with a growing number of parameters. The PCA basis is learned
from the other 191 curves (``dorf-train``), so its score is a held-out one; the official EMoR basis
was learned from all of DoRF, test curves included, so its score is in-sample and slightly
flattering.
"""

import matplotlib.pyplot as plt
import numpy as np

import crfkit

test = crfkit.load_curves("dorf-test")
families = {
    "polynomial": dict(model="polynomial"),
    "GGCM": dict(model="ggcm"),
    "EMoR (in-sample)": dict(model="emor"),
    "PCA of dorf-train": dict(model="pca", basis="dorf-train"),
}
ks = [1, 2, 3, 4, 5, 6, 7, 8]
scores = {name: [crfkit.fit(test, k=k, **options).mean_rmse for k in ks]
          for name, options in families.items()}
gamma = crfkit.fit(test, model="gamma").mean_rmse

for name, values in scores.items():
    print(f"{name:18s} " + " ".join(f"{v:.5f}" for v in values))

# %%
# Mean RMSE over the 10 test curves (log scale). The dotted line is one 8-bit code.

fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
for name, values in scores.items():
    ax.plot(ks, values, marker="o", label=name)
ax.plot([1], [gamma], marker="s", color="k", linestyle="none", label="gamma")
ax.axhline(1 / 255, color="grey", linestyle=":", lw=1)
ax.set(yscale="log", xlabel="parameters k", ylabel="mean RMSE on dorf-test",
       xticks=ks, title="model families on held-out DoRF curves")
ax.legend()
plt.show()
