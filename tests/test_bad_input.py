"""Bad input raises crfkit's own exception types with specific messages.

(Malformed files are in test_parsers.py, missing data in test_data.py, bad images in
test_image.py; this file collects the argument errors of the core API.)
"""

import numpy as np
import pytest

import crfkit
from crfkit import GRID, Curve, CurveSet, fit, get_model
from crfkit.models import PCABasis

Y = GRID**0.5
X = np.linspace(0.05, 0.95, 10)


def with_value(arr, i, v):
    arr = np.array(arr, dtype=float)
    arr.flat[i] = v
    return arr


CASES = [
    # NaN / inf
    ("nan curve", lambda: fit(with_value(Y, 500, np.nan), "gamma"), crfkit.ValidationError, "non-finite"),
    ("inf curve", lambda: fit(with_value(Y, 3, np.inf), "polynomial"), crfkit.ValidationError, "non-finite"),
    ("-inf in set", lambda: fit(np.stack([Y, with_value(Y, 7, -np.inf)]), "emor"), crfkit.ValidationError, r"first at index \(1, 7\)"),
    ("nan Curve", lambda: Curve(with_value(Y, 0, np.nan)), crfkit.ValidationError, "non-finite"),
    ("inf CurveSet", lambda: CurveSet(with_value(np.stack([Y, Y]), 1030, np.inf)), crfkit.ValidationError, "non-finite"),
    ("nan samples x", lambda: fit((with_value(X, 2, np.nan), X), "gamma"), crfkit.ValidationError, "samples x"),
    ("nan samples y", lambda: fit((X, with_value(X, 2, np.nan)), "gamma"), crfkit.ValidationError, "samples y"),
    ("nan weights", lambda: fit((X, X, with_value(np.ones(10), 1, np.nan)), "gamma"), crfkit.ValidationError, "weights"),
    ("nan fit weights", lambda: fit(Y, "gamma", weights=with_value(np.ones(1024), 1, np.nan)), crfkit.ValidationError, "weights"),
    # wrong length / shape
    ("short curve", lambda: fit(Y[:1000], "gamma"), crfkit.ValidationError, "1024 samples"),
    ("short Curve", lambda: Curve(Y[:10]), crfkit.ValidationError, "from_samples"),
    ("short set", lambda: CurveSet(np.zeros((2, 1000))), crfkit.ValidationError, r"\(N, 1024\)"),
    ("3-d data", lambda: fit(np.zeros((2, 2, 1024)), "gamma"), crfkit.ValidationError, "dimension"),
    ("scalar data", lambda: fit(0.5, "gamma"), crfkit.ValidationError, "dimension"),
    ("text data", lambda: fit("curve", "gamma"), crfkit.ValidationError, "numeric"),
    ("x/y mismatch", lambda: fit((X, X[:5]), "gamma"), crfkit.ValidationError, "values per curve"),
    ("weights shape", lambda: fit((X, X, np.ones(3)), "gamma"), crfkit.ValidationError, "weights"),
    ("fit weights shape", lambda: fit(Y, "gamma", weights=np.ones(5)), crfkit.ValidationError, "weights"),
    ("negative weights", lambda: fit(Y, "gamma", weights=-np.ones(1024)), crfkit.ValidationError, ">= 0"),
    ("bad tuple", lambda: fit((X,), "gamma"), crfkit.ValidationError, r"\(x, y\)"),
    # empty
    ("empty array", lambda: fit(np.empty((0, 1024)), "gamma"), crfkit.ValidationError, "empty"),
    ("empty list", lambda: fit([], "gamma"), crfkit.ValidationError, "empty"),
    ("empty CurveSet", lambda: CurveSet(np.empty((0, 1024))), crfkit.ValidationError, "empty"),
    ("empty from_curves", lambda: CurveSet.from_curves([]), crfkit.ValidationError, "empty"),
    ("empty samples", lambda: fit((np.array([]), np.array([])), "gamma"), crfkit.ValidationError, "empty"),
    ("empty table", lambda: crfkit.compare_models(curves=[], pca_from=()), crfkit.ValidationError, "no curve sets"),
    ("one-curve PCA", lambda: PCABasis.from_curves(CurveSet(Y[None])), crfkit.ValidationError, "at least 2"),
    # outside [0, 1]
    ("curve above 1", lambda: fit(1.5 * Y, "gamma"), crfkit.ValidationError, r"\[0, 1\]"),
    ("curve below 0", lambda: fit(Y - 0.1, "emor"), crfkit.ValidationError, r"\[0, 1\]"),
    ("samples x above 1", lambda: fit((2 * X, X), "gamma"), crfkit.ValidationError, r"samples x must lie in \[0, 1\]"),
    ("samples y below 0", lambda: fit((X, X - 0.5), "gamma"), crfkit.ValidationError, r"samples y must lie in \[0, 1\]"),
    ("strict range", lambda: Curve(1.2 * Y, validate="strict"), crfkit.ValidationError, "outside"),
    # k out of range
    ("emor k=30", lambda: fit(Y, "emor", k=30), crfkit.ValidationError, "k for model 'emor' must be <= 25, got 30"),
    ("emor k=0", lambda: fit(Y, "emor", k=0), crfkit.ValidationError, ">= 1"),
    ("poly k=21", lambda: fit(Y, "polynomial", k=21), crfkit.ValidationError, "<= 20"),
    ("ggcm k=9", lambda: fit(Y, "ggcm", k=9), crfkit.ValidationError, "<= 8"),
    ("gamma k=2", lambda: fit(Y, "gamma", k=2), crfkit.ValidationError, "<= 1"),
    ("k float", lambda: get_model("emor", k=2.5), crfkit.ValidationError, "integer"),
    ("k bool", lambda: get_model("emor", k=True), crfkit.ValidationError, "integer"),
    ("k string", lambda: get_model("emor", k="5"), crfkit.ValidationError, "integer"),
    # names and options
    ("unknown model", lambda: fit(Y, "spline"), crfkit.UnknownNameError, "valid models: emor, gamma, ggcm, pca, polynomial"),
    ("unknown kind", lambda: fit(Y, "gamma", kind="backward"), crfkit.ValidationError, "forward' or 'inverse"),
    ("unknown option", lambda: fit(Y, "emor", k=3, smooth=1), crfkit.ValidationError, "unknown option"),
    ("unknown set", lambda: crfkit.load_curves("dcrf"), crfkit.UnknownNameError, "dorf, invdorf"),
    ("pca without basis", lambda: fit(Y, "pca", k=3), crfkit.ValidationError, "needs basis"),
    ("validate mode", lambda: Curve(Y, validate="yes"), crfkit.ValidationError, "validate"),
    # too few samples
    ("3 samples for Poly-5", lambda: fit((X[:3], X[:3]), "polynomial", k=5), crfkit.FitError, "5 parameters but only 3"),
    ("1 sample for GGCM-2", lambda: fit((X[:1], X[:1]), "ggcm", k=2), crfkit.FitError, "only 1"),
    ("all weights zero", lambda: fit((X, X, np.zeros(10)), "gamma"), crfkit.FitError, "only 0"),
]


@pytest.mark.parametrize("call, exc_type, match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(call, exc_type, match):
    with pytest.raises(exc_type, match=match) as exc:
        call()
    assert isinstance(exc.value, crfkit.CrfkitError)
    assert "\n" not in str(exc.value)  # one-line messages


def test_exception_hierarchy():
    """crfkit's errors are one family, and also the matching built-in types."""
    for cls, builtin in [
        (crfkit.ValidationError, ValueError),
        (crfkit.NotMonotoneError, ValueError),
        (crfkit.ParseError, ValueError),
        (crfkit.UnknownNameError, KeyError),
        (crfkit.DataNotFoundError, FileNotFoundError),
        (crfkit.FitError, RuntimeError),
        (crfkit.MissingDependencyError, ImportError),
        (crfkit.ChecksumError, crfkit.CrfkitError),
    ]:
        assert issubclass(cls, crfkit.CrfkitError) and issubclass(cls, builtin)
    assert issubclass(crfkit.NotMonotoneError, crfkit.ValidationError)
    assert str(crfkit.UnknownNameError("no such thing")) == "no such thing"  # not quoted like KeyError


NON_MONOTONE = np.clip(GRID**0.5 - 0.1 * np.exp(-(((GRID - 0.4) / 0.03) ** 2)), 0, 1)
NON_MONOTONE[[0, -1]] = 0.0, 1.0


def test_non_monotone_curves_fit_but_fail_strict_validation(emor_dir):
    """Fitting accepts non-monotone data (real measurements are noisy); strict validation does not."""
    assert not Curve(NON_MONOTONE).is_monotone()
    with pytest.raises(crfkit.NotMonotoneError, match="not monotone"):
        Curve(NON_MONOTONE, validate="strict")
    with pytest.raises(crfkit.NotMonotoneError):
        Curve(NON_MONOTONE).check()
    with pytest.raises(crfkit.NotMonotoneError):
        Curve(NON_MONOTONE).inverse()
    with pytest.raises(crfkit.NotMonotoneError):
        CurveSet(NON_MONOTONE[None]).inverse()
    for name, k, opts in [("gamma", 1, {}), ("polynomial", 7, {}), ("ggcm", 3, {}), ("emor", 11, {"path": emor_dir})]:
        for monotone in (False, True):
            res = fit(Curve(NON_MONOTONE), name, k=k, monotone=monotone, **opts)
            assert np.isfinite(res.rmse) and 0 < res.rmse < 0.05
            assert np.all(np.isfinite(res.params))
            if monotone:
                assert res.curve.is_monotone()


def test_fit_error_for_infeasible_weights_per_curve():
    """Too few weighted samples in any one curve of a batch is an error naming the model."""
    Yb = np.stack([X**0.5, X**0.7])
    W = np.ones_like(Yb)
    W[1, 2:] = 0.0
    with pytest.raises(crfkit.FitError, match="GGCM-3 has 3 parameters but only 2"):
        fit((X, Yb, W), "ggcm", k=3)
