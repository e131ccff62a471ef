"""The estimator commands, run as a user would: in a subprocess."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from _estimator_helpers import make_tiny_weights, photo


def run_cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "crfkit", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=timeout)


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for frag in fragments:
        assert frag in err, err


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    pytest.importorskip("torch")
    import imageio.v3 as iio

    d = tmp_path_factory.mktemp("cli")
    weights = make_tiny_weights(d)
    iio.imwrite(d / "photo.png", photo())
    return d, weights


def test_estimate_prints_writes_and_plots(setup):
    pytest.importorskip("matplotlib")
    d, w = setup
    proc = run_cli("estimate", str(d / "photo.png"), "--method", "linearization-net", "--weights", str(w["linearization-net"]),
                   "--plot", str(d / "crf.png"), "-o", str(d / "g.txt"))
    assert proc.returncode == 0, proc.stderr
    assert "inverse CRF: g(0.1)=" in proc.stdout and "monotone: True" in proc.stdout
    values = np.loadtxt(d / "g.txt")
    assert values.shape == (1024,) and values[0] == 0 and values[-1] == 1 and np.all(np.diff(values) >= 0)
    assert (d / "crf.png").stat().st_size > 1000
    proc = run_cli("estimate", str(d / "photo.png"), "-m", "crf-net", "--weights", str(w["crf-net"]), "--json")
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["values"]) == 1024


def test_linearize_writes_exr(setup):
    pytest.importorskip("OpenEXR")
    d, w = setup
    out = d / "photo_linear.exr"
    proc = run_cli("linearize", str(d / "photo.png"), "-o", str(out), "--method", "crf-net", "--weights", str(w["crf-net"]))
    assert proc.returncode == 0, proc.stderr
    from crfkit.io.hdr import read_hdr

    lin = read_hdr(out)
    assert lin.shape == (80, 96, 3) and 0 <= lin.min() and lin.max() <= 1


def test_estimator_command_errors_are_one_line(setup, tmp_path):
    d, w = setup
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    assert_one_line_error(run_cli("estimate", str(tmp_path / "corrupt.jpg"), "--weights", str(w["linearization-net"])),
                          "corrupt.jpg")
    assert_one_line_error(run_cli("estimate", str(d / "photo.png"), "-m", "linearization-net", "--weights",
                                  str(w["crf-net"])), "weights are for 'crf-net'")
    assert_one_line_error(run_cli("estimate", str(d / "photo.png"), "--weights", str(tmp_path / "none.pt")),
                          "expected a crf-net weight file")  # the default method, as no file says otherwise
    assert_one_line_error(run_cli("estimate", str(d / "photo.png"), "-m", "nope"), "unknown estimator")
    assert_one_line_error(run_cli("linearize", str(d / "photo.png"), "-o", str(tmp_path / "x.png")), ".exr, .hdr, .npy or .tif")


def test_weights_alone_select_their_method(setup):
    d, w = setup
    for method in ("crf-net", "linearization-net"):
        proc = run_cli("estimate", str(d / "photo.png"), "--weights", str(w[method]), "--device", "cpu")
        assert proc.returncode == 0, proc.stderr
        assert f"method: {method}" in proc.stdout


@pytest.mark.realdata
def test_train_resume_and_evaluate_commands(setup, tmp_path):
    import imageio.v3 as iio

    d, w = setup
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(3):
        iio.imwrite(imgs / f"im{i}.png", photo(72, 72, seed=i))
    common = ["--images", str(imgs), "--patch", "32", "--width", "0.125", "--batch-size", "2", "--test-fraction", "0.01",
              "--no-progress", "--threads", "1"]
    proc = run_cli("train", "linearization-net", "--out", str(tmp_path / "run"), "--steps", "2", *common)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("train", "linearization-net", "--out", str(tmp_path / "run"), "--steps", "3", "--resume", *common)
    assert proc.returncode == 0, proc.stderr
    assert "3 steps" in proc.stdout
    assert json.loads((tmp_path / "run" / "weights.json").read_text())["steps_done"] == 3
    assert_one_line_error(run_cli("train", "linearization-net", "--out", str(tmp_path / "run"), "--steps", "3", *common),
                          "--resume")
    # evaluation: every image held out (test fraction 0.99), tiny weights; 10 curves x 1 image
    proc = run_cli("evaluate-estimators", "--images", str(imgs), "--test-fraction", "0.99", "-o", str(tmp_path / "e.md"),
                   "--weights", f"crf-net={w['crf-net']}", "--weights", f"linearization-net={tmp_path / 'run' / 'weights.pt'}",
                   "--json", str(tmp_path / "e.json"), "--max-images", "1")
    assert proc.returncode == 0, proc.stderr
    table = (tmp_path / "e.md").read_text()
    for name in ("crf-net", "linearization-net", "g0 (mean inverse EMoR)", "gamma 2.2", "sRGB inverse",
                 "f0^-1 (inverted mean EMoR)"):
        assert f"| {name} |" in table
    res = json.loads((tmp_path / "e.json").read_text())
    assert len(res["pairs"]) == 10 and res["info"]["n_curves"] == 10


def test_evaluate_estimators_refuses_an_empty_method_list(tmp_path):
    assert_one_line_error(run_cli("evaluate-estimators", "--methods", " , ", "-o", str(tmp_path / "e.md")),
                          "--methods names no estimator")
