"""
A PCA basis from a curve set
============================

EMoR is the mean and the principal components of the DoRF curves. :class:`crfkit.models.PCABasis`
repeats that construction on any curve set, for example a dataset built from chart photographs.
Here it is learned from the 191 DoRF training curves and compared with the official EMoR basis.
"""

import matplotlib.pyplot as plt
import numpy as np

import crfkit
from crfkit.models import PCABasis

train = crfkit.load_curves("dorf-train")
basis = PCABasis.from_curves(train)
emor = crfkit.load_emor()
print(f"components: {basis.n_components}; variance explained by the first five: "
      f"{np.round(basis.explained_variance_ratio[:5], 4)}")

# %%
# Left: the mean curve and the first three components of the learned basis (solid) and of EMoR
# (dashed; a component's sign is arbitrary, so EMoR's are flipped to match). Right: the share of
# the variance left unexplained after k components.

fig, (ax, ax_var) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
x = crfkit.GRID
ax.plot(x, basis.mean, color="k", label="mean (dorf-train)")
ax.plot(x, emor.mean, color="k", linestyle="--", label="mean (EMoR)")
for i, colour in enumerate(["tab:blue", "tab:orange", "tab:green"]):
    c, e = basis.components[i], emor.components[i]
    e = e / np.linalg.norm(e) * np.linalg.norm(c)
    e = e if np.dot(c, e) >= 0 else -e
    ax.plot(x, c, color=colour, label=f"component {i + 1}")
    ax.plot(x, e, color=colour, linestyle="--")
ax.set(xlabel="normalised irradiance E", title="mean and components")
ax.legend(fontsize="small")
left = 1 - np.cumsum(basis.explained_variance_ratio)
ks = np.arange(1, 16)
ax_var.semilogy(ks, left[:15], marker="o")
ax_var.set(xlabel="components k", ylabel="variance not explained", title="dorf-train PCA")
plt.show()
