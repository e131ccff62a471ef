"""The command line, run as a user would: in a subprocess."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import require_real_data


def run_cli(*args, env_extra=None, cwd=None):
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "crfkit", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    for frag in fragments:
        assert frag in err, err


@pytest.mark.realdata
def test_table_csv_has_published_shape_and_bounds(tmp_path):
    require_real_data()
    out = tmp_path / "table.csv"
    proc = run_cli("table", "--format", "csv", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text().strip().splitlines()
    header = lines[0].split(",")
    assert header[0] == "data"
    for col in ["Gamma", "Poly-5", "Poly-11", "GGCM-2", "GGCM-3", "EMoR-5", "EMoR-25", "PCA(dorf)-5", "PCA(dorf)-5 (cv)"]:
        assert col in header, header
    rows = {ln.split(",")[0]: dict(zip(header[1:], ln.split(",")[1:])) for ln in lines[1:]}
    assert set(rows) == {"DoRF", "invDoRF"}
    assert float(rows["DoRF"]["EMoR-5"]) == pytest.approx(0.00232, abs=2e-5)
    # Held-out PCA scores cannot beat the in-sample ones.
    assert float(rows["DoRF"]["PCA(dorf)-5 (cv)"]) >= float(rows["DoRF"]["PCA(dorf)-5"])


@pytest.mark.realdata
def test_table_markdown_json_latex_and_plot(tmp_path):
    require_real_data()
    proc = run_cli("table", "--columns", "Gamma", "EMoR-5", "--pca-k", "3", "--cv-folds", "0")
    assert proc.returncode == 0, proc.stderr
    assert "| DoRF (201) |" in proc.stdout and "| DoRF, published |" in proc.stdout
    proc = run_cli("table", "--columns", "EMoR-5", "--pca-from", "--format", "json")
    data = json.loads(proc.stdout)
    assert data["rows"] == ["DoRF", "invDoRF"] and data["columns"] == ["EMoR-5"]
    proc = run_cli("table", "--columns", "EMoR-5", "--pca-from", "--format", "latex")
    assert proc.stdout.startswith("\\begin{tabular}")
    pytest.importorskip("matplotlib")
    png = tmp_path / "rmse.png"
    proc = run_cli("table", "--columns", "Gamma", "EMoR-5", "--pca-k", "3", "--plot", str(png))
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.realdata
def test_table_on_saved_curve_set(tmp_path):
    require_real_data()
    import crfkit

    sub = crfkit.load_curves("dorf")[:40]
    sub.name = "sub"
    path = tmp_path / "sub.crfs"
    sub.save(path)
    proc = run_cli("table", "--curves", str(path), "--pca-from", str(path), "--columns", "EMoR-5",
                   "--pca-k", "3", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["rows"] == ["sub", "invsub"]
    assert "PCA(sub)-3 (cv)" in data["columns"]


@pytest.mark.realdata
def test_fit_prints_parameters_and_rmse(tmp_path):
    require_real_data()
    proc = run_cli("fit", "dorf", "--index", "0", "--model", "emor", "-k", "11", "--json")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["label"] == "EMoR-11" and len(res["params"]) == 11
    assert 0 < res["rmse"] < 1e-3
    proc = run_cli("fit", "invdorf", "--name", "agfacolor-futura-100CDRed", "-m", "poly", "-k", "5", "--pin-zero")
    assert proc.returncode == 0, proc.stderr
    assert "Poly0-5" in proc.stdout and "rmse:" in proc.stdout


def test_fit_samples_file_and_save(tmp_path):
    x = np.linspace(0.05, 1, 20)
    y = x ** (1 / 2.2)
    src = tmp_path / "samples.csv"
    np.savetxt(src, np.column_stack([x, y]), delimiter=",")
    out = tmp_path / "fit.crfs"
    proc = run_cli("fit", str(src), "-m", "gamma", "--save", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "rmse:" in proc.stdout
    import crfkit

    cs = crfkit.CurveSet.load(out)
    assert len(cs) == 1
    assert cs[0](0.5) == pytest.approx(0.5 ** (1 / 2.2), abs=1e-4)


def test_user_errors_are_one_line(tmp_path):
    assert_one_line_error(run_cli("fit", "dorf", "-m", "nosuchmodel"), "unknown model", "emor", "gamma")
    bad = tmp_path / "bad.txt"
    bad.write_text("0.1 0.2\n0.3 abc\n")
    assert_one_line_error(run_cli("fit", str(bad)), str(bad))
    assert_one_line_error(run_cli("fit", str(tmp_path / "missing.csv")), "missing.csv")
    assert_one_line_error(run_cli("table", "--columns", "Foo-3"), "Foo-3")
    assert_one_line_error(run_cli("table", "--plot", str(tmp_path / "x.gif")), "x.gif")


def test_missing_data_message_says_how_to_fix(tmp_path):
    env = {"CRFKIT_DATA": str(tmp_path), "CRFKIT_OFFLINE": "1", "CRFKIT_CACHE": str(tmp_path / "cache")}
    proc = run_cli("table", env_extra=env)
    assert_one_line_error(proc, "CRFKIT_DATA", "dorfCurves")


@pytest.mark.realdata
def test_k_out_of_range_and_info(tmp_path):
    require_real_data()
    assert_one_line_error(run_cli("fit", "dorf", "--index", "1", "-m", "emor", "-k", "30"), "k", "25", "30")
    proc = run_cli("info", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["data files"]["dorfCurves.txt"].endswith("dorfCurves.txt")
    assert "emor" in info["models"]


@pytest.mark.realdata
def test_basis_command_round_trip(tmp_path):
    require_real_data()
    basis = tmp_path / "b.npz"
    proc = run_cli("basis", "dorf", "-k", "5", "-o", str(basis))
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("fit", "dorf", "--index", "2", "-m", "pca", "-k", "5", "--basis", str(basis), "--json")
    assert proc.returncode == 0, proc.stderr
    import crfkit

    direct = crfkit.fit(crfkit.load_curves("dorf")[2], model="pca", k=5, basis="dorf")
    assert json.loads(proc.stdout)["rmse"] == pytest.approx(direct.rmse, rel=1e-9)
