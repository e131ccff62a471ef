"""
Calibrate a camera from a synthetic exposure bracket
====================================================

An exposure bracket (several photographs of one static scene at different exposure times) fixes
a camera's response curve without any chart. Here the camera is simulated: a linear scene is
rendered through a known DoRF curve at four exposures, with noise and 8-bit quantisation, and
:func:`crfkit.calibrate_bracket` recovers the curve from the four images and their exposure
times alone.
"""

import matplotlib.pyplot as plt
import numpy as np

import crfkit

rng = np.random.default_rng(3)

# A scene with a wide range of radiances: smooth gradients times random patches.
h, w = 240, 320
yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
patches = rng.uniform(0.05, 1.0, (6, 8, 3)).repeat(h // 6, axis=0).repeat(w // 8, axis=1)
scene = (0.02 + 0.98 * xx ** 2)[..., None] * patches * (0.3 + 0.7 * yy)[..., None]

truth = crfkit.load_curves("dorf-test")[0]          # the "camera": a curve never trained on
times = np.array([1 / 30, 1 / 8, 1 / 2, 2.0])
bracket = []
for t in times:
    exposed = np.clip(scene * t * 2.0 + rng.normal(0, 0.002, scene.shape), 0, 1)
    bracket.append(crfkit.apply_curve(exposed, truth, bits=8))      # uint8 photographs

cal = crfkit.calibrate_bracket(bracket, times=times, bootstrap=10)
recovered = cal.curves[1]                            # green channel
print(f"RMSE of the recovered curve against the truth: {recovered.rmse(truth):.4f}")
print(f"fit residual per channel: {np.round(cal.rmse, 4)}")

# %%
# The bracket (top) and the curves (bottom): truth, the recovered green channel with its 95 %
# bootstrap band, and gamma 2.2 for comparison.

fig = plt.figure(figsize=(10, 6.5), layout="constrained")
top = fig.subfigures(2, 1, height_ratios=[1, 1.6])
for ax, img, t in zip(top[0].subplots(1, len(bracket)), bracket, times):
    ax.imshow(img)
    ax.set(title=f"t = {t:.3g} s", xticks=[], yticks=[])
ax = top[1].subplots()
ax.plot(truth.x, truth.values, color="k", lw=3, alpha=0.3, label=f"truth ({truth.name})")
ax.plot(recovered.x, recovered.values, color="tab:green", label="recovered (green)")
ax.fill_between(recovered.x, cal.band[1, 0], cal.band[1, 1], color="tab:green", alpha=0.25,
                label="95 % bootstrap band")
ax.plot(truth.x, crfkit.Curve.gamma(2.2).values, color="grey", linestyle="--", label="gamma 2.2")
ax.set(xlabel="normalised irradiance E", ylabel="brightness B")
ax.legend()
plt.show()
