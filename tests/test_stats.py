import numpy as np

from crfkit._stats import paired_bootstrap_interval


def test_interval_brackets_the_mean_and_is_reproducible():
    d = np.random.default_rng(1).normal(0.3, 1.0, 50)
    lo, hi = paired_bootstrap_interval(d)
    assert lo < d.mean() < hi
    assert (lo, hi) == paired_bootstrap_interval(d)


def test_clear_and_unclear_signs():
    rng = np.random.default_rng(2)
    lo, hi = paired_bootstrap_interval(rng.normal(-1.0, 0.1, 20))
    assert hi < 0  # every item better: the sign is settled
    lo, hi = paired_bootstrap_interval(np.array([-1.0, 1.0, -0.5, 0.5, -0.2, 0.3, 0.1]))
    assert lo < 0 < hi  # a few items pulling both ways: not settled


def test_level_widens_the_interval():
    d = np.random.default_rng(3).normal(0.0, 1.0, 30)
    lo90, hi90 = paired_bootstrap_interval(d, level=90)
    lo99, hi99 = paired_bootstrap_interval(d, level=99)
    assert lo99 < lo90 and hi90 < hi99
