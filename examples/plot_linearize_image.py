"""
Linearise a photograph
======================

Pixel values in a JPEG are not proportional to light. :func:`crfkit.linearize` undoes the response
curve with an inverse CRF, here the curve measured from a ColorChecker for one of the Middlebury
cameras, and the result is checked against the camera's own linear RAW values of the same shot.
"""

import os

import imageio.v3 as iio
import matplotlib.pyplot as plt
import numpy as np

import crfkit
from crfkit.calibration import fit_crf, samples_from_pair_files
from crfkit.charts import ChartLayout

root = os.path.join(os.environ["CRFKIT_DATA"], "middlebury_chart_pairs")
camera = os.path.join(root, "CanonPowerShotG10")
layout = ChartLayout.from_tags_json(os.path.join(root, "tags.json"))

# The camera's curves, from the four illumination-1 RAW+JPEG pairs of the chart.
pairs = [(os.path.join(camera, f"wb1i1e{e}-jpg.png"), os.path.join(camera, f"wb1i1e{e}-raw.png"))
         for e in range(1, 5)]
curves = fit_crf(samples_from_pair_files(pairs, layout), method="smooth").curves
inverse = crfkit.CurveSet.from_curves(curves).inverse()          # R, G, B inverse curves

# A shot under the other illumination, never used for the fit.
jpeg = iio.imread(os.path.join(camera, "wb1i2e3-jpg.png"))
raw = iio.imread(os.path.join(camera, "wb1i2e3-raw.png")).astype(np.float64)

linear = {"chart curves": crfkit.linearize(jpeg, inverse),
          "sRGB inverse": crfkit.linearize(jpeg, crfkit.Curve.srgb().inverse()),
          "no linearisation": jpeg / 255.0}

# %%
# Each linearisation against the RAW values, pixel by pixel (green channel, unclipped pixels;
# both axes scaled to their 99th percentile). A correct linearisation lies on the diagonal.

ok = (jpeg[..., 1] < 250) & (raw[..., 1] > 2)
r = raw[..., 1][ok] / np.percentile(raw[..., 1][ok], 99)
fig, axes = plt.subplots(1, 4, figsize=(13, 3.6), layout="constrained")
axes[0].imshow(jpeg)
axes[0].set(title="the JPEG", xticks=[], yticks=[])
for ax, (name, lin) in zip(axes[1:], linear.items()):
    v = lin[..., 1][ok] / np.percentile(lin[..., 1][ok], 99)
    err = np.sqrt(np.mean((v - r) ** 2))
    ax.plot(r, v, ",", alpha=0.3)
    ax.plot([0, 1.1], [0, 1.1], color="k", lw=0.8)
    ax.set(title=f"{name}\nRMSE {err:.3f}", xlabel="RAW (linear)", xlim=(0, 1.1), ylim=(0, 1.1))
    print(f"{name:18s} RMSE against RAW {err:.4f}")
axes[1].set_ylabel("linearised JPEG")
plt.show()
