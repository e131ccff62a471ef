"""From chart samples to camera response functions.

* :mod:`~crfkit.calibration.samples`: (irradiance, brightness) samples from
  RAW+JPEG pairs, exposure brackets or a single JPEG of a chart.
* :mod:`~crfkit.calibration.fit`: monotone per-channel fits with an unknown
  irradiance scale, the colour-aware ``JPEG = f(M . RAW)`` fit, and the
  linearisation error used to check a curve against RAW, and the inverse
  fit on that same criterion (:func:`fit_inverse_colour`).
* :mod:`~crfkit.calibration.identifiability`: how well the irradiance scale
  can be identified through 8-bit clipping (curves recovered with an assumed
  clipping onset).
"""

from .fit import CRFEstimate, fit_crf, fit_crf_colour, fit_inverse_colour, linearisation_error
from .samples import (
    ChartSamples,
    as_layout,
    samples_from_bracket_files,
    samples_from_pair,
    samples_from_pair_files,
    samples_from_reference,
    sha256,
)

__all__ = [
    "CRFEstimate",
    "ChartSamples",
    "as_layout",
    "fit_crf",
    "fit_crf_colour",
    "fit_inverse_colour",
    "linearisation_error",
    "samples_from_bracket_files",
    "samples_from_pair",
    "samples_from_pair_files",
    "samples_from_reference",
    "sha256",
]
