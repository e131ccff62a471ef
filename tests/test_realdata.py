"""The real DoRF and EMoR files (found through CRFKIT_DATA only)."""


import numpy as np
import pytest

import crfkit
from crfkit import GRID
from crfkit.data import find_data_file, read_dorf, read_emor, verify

pytestmark = pytest.mark.realdata


def test_dorf_contents(dorf):
    assert len(dorf) == 201
    assert dorf.kind == "forward" and dorf.name == "DoRF"
    assert dorf.values.shape == (201, 1024)
    assert dorf.names[0] == "agfacolor-futura-100CDRed"
    assert dorf.metadata[0] == {"type": "graph-log-log-neg", "source": "DoRF"}
    assert dorf.problems() == {}  # every curve a valid monotone CRF with f(0)=0, f(1)=1
    assert len(set(dorf.names)) >= 190


def test_dorf_zip_equals_txt():
    txt = read_dorf(find_data_file("dorfCurves.txt"))
    z = read_dorf(find_data_file("dorfCurves.zip"))
    assert z.names == txt.names and z.metadata == txt.metadata
    assert z.values.tobytes() == txt.values.tobytes()


def test_parse_benchmark_runs_and_reports_the_target():
    """The parse-time target is checked by benchmarks/bench_parse.py, not by a timed test."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_parse.py"
    out = subprocess.run([sys.executable, str(script), "--repeats", "2"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "DoRF (201 curves)" in out.stdout
    assert "target < 100 ms" in out.stdout


def test_official_checksums():
    for name in ("dorfCurves.txt", "dorfCurves.zip", "emor.txt", "invemor.txt"):
        assert verify(find_data_file(name)) is not None


@pytest.mark.parametrize("inverse", [False, True], ids=["emor", "invemor"])
def test_emor_basis(inverse):
    b = crfkit.load_emor(inverse=inverse)
    assert b.kind == ("inverse" if inverse else "forward")
    assert b.components.shape == (25, 1024) and b.mean.shape == (1024,)
    # orthonormal over the 1024 samples (the files hold 7 significant digits)
    np.testing.assert_allclose(b.components @ b.components.T, np.eye(25), atol=1e-6)
    np.testing.assert_allclose(b.components[:, [0, -1]], 0.0, atol=1e-12)  # zero at both ends
    assert b.mean[0] == 0.0 and b.mean[-1] == 1.0
    assert np.all(np.diff(b.mean) >= 0)
    assert read_emor(find_data_file("invemor.txt" if inverse else "emor.txt")).components.tobytes() == b.components.tobytes()


def test_emor5_on_dorf(dorf):
    """REFERENCE section 1: EMoR-5 fitted to DoRF by projection gives 0.00232 (published 0.002328)."""
    res = crfkit.fit(dorf, "emor", k=5)
    assert res.mean_rmse == pytest.approx(0.00232, abs=0.00002)
    assert res.mean_rmse <= 0.002328 * 1.10
    # least squares on an orthonormal basis is the projection c = H (f - f0)
    b = crfkit.load_emor()
    coef = (dorf.values - b.mean) @ b.components[:5].T
    np.testing.assert_allclose(res.params, coef, atol=1e-5)


def test_issue_example(dorf):
    c = crfkit.load_curves("dorf")[0]
    r = crfkit.fit(c, model="emor", k=11)
    assert r.rmse < 0.001 and r.label == "EMoR-11" and r.params.shape == (11,)


def test_invdorf(dorf):
    inv = crfkit.load_curves("invdorf")
    assert len(inv) == 201 and inv.kind == "inverse" and inv.name == "invDoRF"
    assert inv.problems() == {}
    # f(g(B)) = B on the grid for every DoRF curve
    for f, g in zip(dorf, inv):
        assert np.max(np.abs(f(g.values) - GRID)) < 1e-4
    # the inverse EMoR basis fits invDoRF about as well as EMoR fits DoRF
    assert crfkit.fit(inv, "emor", k=5).mean_rmse < 0.0025


def test_curve_set_round_trip_of_dorf(dorf, tmp_path):
    p = dorf.save(tmp_path / "dorf.crfs")
    back = crfkit.load_curves(p)
    assert back == dorf and back.values.tobytes() == dorf.values.tobytes()
