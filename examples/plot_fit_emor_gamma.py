"""
Fit EMoR and gamma to a measured response curve
===============================================

A one-parameter gamma curve is the usual guess for a camera's response; the Empirical Model of
Response (EMoR) describes a curve with a few coefficients of a basis learned from measured curves.
Here both are fitted to one curve of the DoRF database and compared: the fits, and what is left
over.
"""

import matplotlib.pyplot as plt

import crfkit

dorf = crfkit.load_curves("dorf")
curve = dorf["agfacolor-futura-100CDGreen"]

fits = [crfkit.fit(curve, model="gamma"),
        crfkit.fit(curve, model="emor", k=3),
        crfkit.fit(curve, model="emor", k=11)]
for r in fits:
    print(f"{r.label:8s} RMSE {r.rmse:.5f}")

# %%
# The curve and its fits (left), and the residual of each fit on the 1024-point grid (right).
# Gamma cannot follow the toe and the shoulder of a film curve; three EMoR coefficients already
# do much better, and eleven leave an error far below one 8-bit code (1/255 = 0.0039).

fig, (ax, ax_res) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
ax.plot(curve.x, curve.values, color="k", lw=3, alpha=0.3, label=f"DoRF: {curve.name}")
for r in fits:
    ax.plot(r.curve.x, r.curve.values, lw=1.2, label=f"{r.label} (RMSE {r.rmse:.4f})")
    ax_res.plot(curve.x, r.curve.values - curve.values, lw=1, label=r.label)
ax.set(xlabel="normalised irradiance E", ylabel="brightness B = f(E)", title="fits")
ax.legend(fontsize="small")
ax_res.axhline(0, color="k", lw=0.5)
ax_res.set(xlabel="normalised irradiance E", ylabel="fit - curve", title="residuals")
ax_res.legend(fontsize="small")
plt.show()
