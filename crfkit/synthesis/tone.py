"""Random contrast ("picture style") tone curves composed with the training CRFs.

Modern cameras apply a contrast S-curve in the code domain after the base
response (a Nikon D7000's "Normal" style puts code 128 at 0.095 linear); the
DoRF curves (film and early digital) mostly lack it.  ``SynthesisConfig(tone_curves=p)``
composes a share ``p`` of the drawn forward curves ``f`` with a random
monotone tone curve ``T`` (code -> code): the camera's curve is then ``T(f)``,
and that composed curve is the training target.

``T(y) = (1 - a) y + a S(y)`` with the normalised logistic
``S(y) = (s(y) - s(0)) / (s(1) - s(0))``, ``s(y) = 1 / (1 + exp(-k (y - p)))``:
strength ``a ~ U(0, 1)`` (0 is the identity), steepness ``k ~ U(k_lo, k_hi)``
and pivot ``p ~ U(p_lo, p_hi)``.  ``T(0) = 0``, ``T(1) = 1`` and ``T`` is
strictly increasing, so ``T(f)`` keeps ``f``'s endpoints and monotonicity.
"""

import numpy as np

TONE_STEEPNESS = (3.0, 12.0)
TONE_PIVOT = (0.2, 0.6)


def contrast_curve(y, strength, steepness, pivot):
    """The tone curve ``T`` at code values ``y`` (in [0, 1]); see the module docstring."""
    y = np.asarray(y, dtype=np.float64)
    s = lambda v: 1.0 / (1.0 + np.exp(-steepness * (v - pivot)))  # noqa: E731
    lo, hi = s(0.0), s(1.0)
    t = (1.0 - strength) * y + strength * (s(y) - lo) / (hi - lo)
    return np.clip(t, 0.0, 1.0)


def draw_tone_params(rng, steepness=TONE_STEEPNESS, pivot=TONE_PIVOT):
    """Random ``(strength, steepness, pivot)``: three uniform draws from ``rng``."""
    a = float(rng.uniform(0.0, 1.0))
    k = float(rng.uniform(*steepness))
    p = float(rng.uniform(*pivot))
    return a, k, p


def compose_tone(forward_values, strength, steepness, pivot):
    """``T(f)`` on the grid for a forward curve ``f`` (1024 samples): monotone, same endpoints as ``f``
    when ``f`` starts at 0 and ends at 1."""
    f = np.asarray(forward_values, dtype=np.float64)
    out = np.maximum.accumulate(contrast_curve(f, strength, steepness, pivot))
    return out.astype(np.asarray(forward_values).dtype, copy=False)
