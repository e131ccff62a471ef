"""Small statistics shared by the evaluations."""

import numpy as np


def paired_bootstrap_interval(differences, n_boot=2000, level=95.0, seed=0):
    """Percentile bootstrap interval of the mean of paired differences.

    Parameters
    ----------
    differences : array_like (n,)
        Per-item differences between two methods scored on the same items
        (images, crops, curve/image pairs).
    n_boot : int
        Bootstrap resamples (items drawn with replacement).
    level : float
        Coverage in percent.
    seed : int
        Seed of the resampling, so that a report regenerates identically.

    Returns
    -------
    (float, float)
        Lower and upper bounds.  An interval that excludes 0 says the sign of the
        mean difference is not an accident of which items were drawn; with few
        items (e.g. 7 test crops) it is wide and says so.
    """
    d = np.asarray(differences, dtype=float)
    rng = np.random.default_rng(seed)
    boots = np.array([d[rng.integers(0, len(d), len(d))].mean() for _ in range(int(n_boot))])
    tail = (100.0 - float(level)) / 2.0
    lo, hi = np.percentile(boots, [tail, 100.0 - tail])
    return float(lo), float(hi)
