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


# ---- the 'modern' curve model: the same shipped curves as a PCA basis (basis='modern', --basis modern) ----


def test_modern_basis_is_the_shipped_curves_with_8_components_and_keeps_the_times_prior():
    from crfkit.bracket.calibrate import MODERN_BASIS_K, modern_basis

    pb = modern_basis()
    assert pb.kind == "inverse" and pb.source == "modern"
    assert pb.components.shape == (MODERN_BASIS_K, 1024) == (8, 1024)
    np.testing.assert_allclose(pb.components @ pb.components.T, np.eye(8), atol=1e-6)
    # The times prior is its mean and first 3 components, unchanged by the larger shipped basis.
    tp = modern_times_prior()
    np.testing.assert_array_equal(tp.mean, pb.mean)
    np.testing.assert_array_equal(tp.components, pb.components[:TIMES_K])


def test_basis_modern_calibrates_without_data_with_k_8_by_default(monkeypatch, tmp_path):
    monkeypatch.setenv("CRFKIT_DATA", str(tmp_path))  # shipped with the package: no data read
    from crfkit.bracket.calibrate import modern_basis

    # A camera whose response is the modern cameras' mean curve (a curve of the family; a pure
    # gamma curve is not, and this basis of 10 cameras' JPEG curves fits it poorly).
    grid = np.linspace(0, 1, 1024)
    mean_inverse = modern_basis().mean
    rng = np.random.default_rng(0)
    E = np.kron(np.exp(rng.uniform(np.log(0.01), np.log(1.0), size=(8, 12, 1))), np.ones((8, 8, 1)))
    E = E * np.array([1.0, 0.8, 0.6])
    times = (1.0, 2.0, 4.0, 8.0)
    ims = [np.round(255 * np.interp(np.clip(E * t / 8.0, 0, 1), mean_inverse, grid)).astype(np.uint8) for t in times]
    cal = calibrate_bracket(ims, times, model="pca", basis="Modern", bootstrap=0)
    assert "PCA(modern)-8" in cal.method
    cal3 = calibrate_bracket(ims, times, model="pca", basis="modern", k=3, bootstrap=0)
    assert "PCA(modern)-3" in cal3.method
    # The shape comes back (the scale, set by extrapolating above the highest valid code, is not tested here).
    x = np.linspace(0.05, 0.95, 19)
    truth = np.interp(x, grid, mean_inverse)
    for c in range(3):
        v = np.interp(x, grid, cal.inverse()[c].values)
        assert np.max(np.abs(v * (v @ truth) / (v @ v) - truth)) < 0.02
    with pytest.raises(ValidationError, match="exceeds the 8 components"):
        calibrate_bracket(ims, (1.0, 2.0, 4.0, 8.0), model="pca", basis="modern", k=9, bootstrap=0)


def test_cli_basis_modern(capsys, tmp_path, monkeypatch):
    import json

    from crfkit.cli import main
    from crfkit.io.images import write_image

    monkeypatch.setenv("CRFKIT_DATA", str(tmp_path / "nodata"))
    paths = []
    for i, im in enumerate(_gamma_bracket()):
        paths.append(tmp_path / f"s{i}.png")
        write_image(paths[-1], im)
    out_file = tmp_path / "cam.crfs"
    rc = main(["calibrate", *map(str, paths), "--times", "1", "2", "4", "8", "--basis", "modern", "--bootstrap", "0",
               "--json", "-o", str(out_file)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "PCA(modern)-8" in json.loads(out)["method"]
    assert out_file.exists()
