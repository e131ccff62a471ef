"""BLAS threading control.

The batched fits are many small matrix products; on small machines the
multi-threaded BLAS spends more time synchronising than computing (measured:
the DoRF table runs about 1.8x faster on 2 cores with one BLAS thread), so the
hot paths run single-threaded.
"""

import contextlib


@contextlib.contextmanager
def single_threaded_blas():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl comes with scikit-learn; without it, run as is
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
