"""Robust statistics of chart patches and rejection of unusable ones.

A patch gives one sample per channel: its trimmed mean.  It is rejected
(weight 0) when it is clipped (too many pixels at the top code value), too dark
(mean below a floor where quantisation and noise dominate) or not uniform
(robust spread large compared with its level: glare, a shadow, a wrong layout).
"""

from dataclasses import dataclass

import numpy as np

from ..errors import ValidationError


@dataclass
class PatchStats:
    """Statistics of P patches with C channels, values normalised to [0, 1].

    Attributes
    ----------
    mean : ndarray (P, C)
        Trimmed mean (``trim`` of the pixels cut at each end), in [0, 1].
    spread : ndarray (P, C)
        Robust standard deviation (1.4826 x median absolute deviation).
    clipped : ndarray (P, C)
        Fraction of pixels at or above the clip level.
    n : ndarray (P,)
        Pixels per patch.
    """

    mean: np.ndarray
    spread: np.ndarray
    clipped: np.ndarray
    n: np.ndarray

    def usable(self, dark=0.02, clip_fraction=0.02, max_spread=0.05, check_clipping=True):
        """Boolean mask (P, C) of patches fit for calibration.

        Parameters
        ----------
        dark : float
            Reject means below this level (normalised).
        clip_fraction : float
            Reject patches with more than this fraction of clipped pixels.
        max_spread : float
            Reject patches whose robust spread exceeds ``max_spread`` plus 10 %
            of their mean (noise grows with the level; texture or glare do more).
        check_clipping : bool
            False for linear references (RAW), whose clipping is handled by the caller.
        """
        ok = (self.mean >= dark) & (self.spread <= max_spread + 0.1 * self.mean)
        if check_clipping:
            ok &= self.clipped <= clip_fraction
        return ok


def _max_value(dtype, values):
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    return 1.0


def patch_stats(patches, max_value=None, trim=0.2, clip_level=None):
    """Robust statistics of each patch.

    Parameters
    ----------
    patches : list of ndarray (n_i, C)
        Pixels of every patch (from :meth:`ChartLayout.sample`).
    max_value : float, optional
        Full-scale value (255 for uint8, 65535 for uint16, 1 for floats by default).
    trim : float in [0, 0.5)
        Fraction cut from each end before averaging.
    clip_level : float, optional
        Normalised level counted as clipped (default: 1 - 1.5 code values of 8 bit).

    Returns
    -------
    PatchStats
    """
    if not patches:
        raise ValidationError("no patches to measure")
    if not 0 <= trim < 0.5:
        raise ValidationError(f"trim must be in [0, 0.5), got {trim}")
    dtype = np.asarray(patches[0]).dtype
    full = float(max_value) if max_value is not None else _max_value(dtype, patches[0])
    clip = (1.0 - 1.5 / 255.0) if clip_level is None else float(clip_level)
    means, spreads, clipped, ns = [], [], [], []
    for p in patches:
        v = np.asarray(p, dtype=np.float64).reshape(len(p), -1) / full
        if len(v) == 0:
            raise ValidationError("a patch has no pixels (layout outside the image?)")
        s = np.sort(v, axis=0)
        cut = int(trim * len(s))
        core = s[cut:len(s) - cut] if len(s) - 2 * cut > 0 else s
        med = np.median(v, axis=0)
        means.append(core.mean(axis=0))
        spreads.append(1.4826 * np.median(np.abs(v - med), axis=0))
        clipped.append((v >= clip).mean(axis=0))
        ns.append(len(v))
    return PatchStats(np.array(means), np.array(spreads), np.array(clipped), np.array(ns))
