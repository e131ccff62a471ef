"""The shipped modern-camera times prior for unknown exposure times (``times_prior='modern'``, the default)."""

import numpy as np
import pytest

from crfkit.bracket import calibrate_bracket
from crfkit.bracket.calibrate import DEFAULT_TIMES_PRIOR, TIMES_K, modern_times_prior, times_solver
from crfkit.errors import ValidationError
from crfkit.models.pca import PCABasis


def test_modern_prior_is_a_small_inverse_basis_shipped_with_the_package():
    pb = modern_times_prior()
    assert isinstance(pb, PCABasis)
    assert pb.kind == "inverse"
    assert pb.components.shape == (TIMES_K, 1024)
    # Orthonormal components, a monotone mean inverse curve from 0 to 1.
    np.testing.assert_allclose(pb.components @ pb.components.T, np.eye(TIMES_K), atol=1e-6)
    assert np.all(np.diff(pb.mean) >= -1e-7)
    assert pb.mean[0] == pytest.approx(0.0, abs=0.01)
    assert pb.mean[-1] == pytest.approx(1.0, abs=0.01)
    assert "Middlebury" in pb.source
    assert pb.attrs["n_curves"] == 60 and len(pb.attrs["cameras"]) == 10


def test_default_times_prior_is_modern_and_emor_stays_available():
    assert DEFAULT_TIMES_PRIOR == "modern"
    assert "Middlebury" in times_solver()._model().label
    assert times_solver("Modern")._model().label == times_solver("modern")._model().label
    assert times_solver(modern_times_prior()).k == TIMES_K
    with pytest.raises(ValidationError, match="times_prior must be 'modern'"):
        times_solver(3)


def _gamma_bracket(gamma=2.2, times=(1.0, 2.0, 4.0, 8.0), seed=0):
    rng = np.random.default_rng(seed)
    # Flat 8x8 patches: single-pixel texture would be rejected as edges by the sampler.
    E = np.kron(np.exp(rng.uniform(np.log(0.01), np.log(1.0), size=(8, 12, 1))), np.ones((8, 8, 1)))
    E = E * np.array([1.0, 0.8, 0.6])
    return [np.round(255 * np.clip(E * t / 8.0, 0, 1) ** (1 / gamma)).astype(np.uint8) for t in times]


def test_unknown_times_with_the_default_prior_need_no_data(monkeypatch, tmp_path):
    # The default times prior is in the package: with unknown times and a data-free curve model, no data is read.
    monkeypatch.setenv("CRFKIT_DATA", str(tmp_path))
    cal = calibrate_bracket(_gamma_bracket(), None, model="polynomial", bootstrap=0)
    assert cal.times_source.startswith("estimated")
    steps = cal.times[1:] / cal.times[:-1]
    assert np.all(np.isfinite(steps)) and np.all(steps > 1.0)
