"""Single-image estimators scored on real cameras (crfkit.evaluation.real_estimators)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import crfkit
from crfkit.errors import CrfkitError, DataNotFoundError, ValidationError
from crfkit.evaluation.real_camera import MIDDLEBURY_FOLDER, load_middlebury_brackets, score_bracket
from crfkit.evaluation.real_estimators import (
    BRACKET,
    CHART,
    GAMMA,
    SRGB,
    RealEvaluation,
    evaluate_real,
    load_chart_curves,
)
from crfkit.io.images import write_image

MIX = np.array([[0.80, 0.15, 0.05], [0.10, 0.75, 0.15], [0.05, 0.20, 0.75]])


def make_folder(root, cameras=("CamA", "CamB"), shape=(64, 96), illumination=2, crop_raw=None):
    """A Middlebury-style folder: JPEG = sRGB(RAW @ MIX) in 8 bits, RAW dark 8-bit, 4 exposures a stop apart."""
    rng = np.random.default_rng(0)
    h, w = shape
    for ci, cam in enumerate(cameras):
        d = root / cam
        d.mkdir(parents=True)
        coarse = rng.uniform(0.03, 0.25, size=(h // 8 + 1, w // 8 + 1, 3))
        lin = np.repeat(np.repeat(coarse, 8, 0), 8, 1)[:h, :w]
        for e in range(1, 5):
            x = np.clip(lin * 2 ** (e - 1), 0, 1)
            jpeg = crfkit.apply_curve(np.clip(x @ MIX, 0, 1), crfkit.Curve.srgb(), bits=8)
            raw = np.round(x * 60).astype(np.uint8)
            if crop_raw == (cam, e):
                raw = raw[:, :-8]
            write_image(d / f"wb1i{illumination}e{e}-jpg.png", jpeg)
            write_image(d / f"wb1i{illumination}e{e}-raw.png", raw)
    return root


def test_fixed_curves_on_a_synthetic_folder(tmp_path):
    root = make_folder(tmp_path / "mb")
    res = evaluate_real(root, methods=[], bracket=False)
    assert isinstance(res, RealEvaluation)
    assert res.methods == [SRGB, GAMMA]  # no tags.json: no chart row
    assert res.cameras == ["CamA", "CamB"] and res.errors[SRGB].shape == (2, 4)
    # the JPEGs were rendered with the sRGB curve: only quantisation is left
    assert np.nanmax(res.errors[SRGB]) < 0.03  # dark 8-bit RAW: quantisation
    assert np.all(res.errors[GAMMA] > res.errors[SRGB])
    rows = {r["method"]: r for r in res.summary()}
    assert res.reference() == SRGB and rows[SRGB]["ratio_to_reference"] == 1.0
    lo, hi = rows[GAMMA]["ci"]
    assert lo <= rows[GAMMA]["mean"] <= hi
    assert rows[GAMMA]["difference_to_reference"] > 0
    md = res.to_markdown()
    assert "| gamma 2.2 |" in md and "| CamA |" in md
    d = res.to_dict()
    assert "seconds_per_jpeg" not in d and json.loads(json.dumps(d))["cameras"] == ["CamA", "CamB"]
    # the same measure as the bracket analysis: per-camera means agree with score_bracket
    b = load_middlebury_brackets(root, illuminations=(2,), cameras=["CamA"])[0]
    assert res.camera_means(SRGB)[0] == pytest.approx(score_bracket(crfkit.Curve.srgb().inverse(), b).mean())


def test_gain_variant_is_never_better_than_the_matrix(tmp_path):
    root = make_folder(tmp_path / "mb")
    m = evaluate_real(root, methods=[], bracket=False)
    g = evaluate_real(root, methods=[], bracket=False, fit="gain")
    # a diagonal matrix is a special 3x3 matrix; here the colours are mixed, so strictly worse
    assert np.all(g.errors[SRGB] > m.errors[SRGB])


def test_refuses_jpeg_and_raw_of_different_sizes(tmp_path):
    root = make_folder(tmp_path / "mb", crop_raw=("CamB", 3))
    with pytest.raises(ValidationError, match=r"CamB[/\\]wb1i2e3-jpg\.png.*96x64.*wb1i2e3-raw\.png is 88x64"):
        evaluate_real(root, methods=[], bracket=False)


def test_bad_arguments(tmp_path):
    root = make_folder(tmp_path / "mb", cameras=("CamA",))
    with pytest.raises(ValidationError, match="illumination"):
        evaluate_real(root, methods=[], illumination=3)
    with pytest.raises(ValidationError, match="fit"):
        evaluate_real(root, methods=[], fit="diag")
    with pytest.raises(ValidationError, match="not among the methods"):
        evaluate_real(root, methods=[], weights={"crf-net": "x.pt"})
    with pytest.raises(DataNotFoundError):
        evaluate_real(tmp_path / "nowhere", methods=[])
    with pytest.raises(DataNotFoundError, match="camera 'Nope'"):
        evaluate_real(root, methods=[], cameras=["Nope"])
    with pytest.raises(CrfkitError):
        evaluate_real(root, methods=["no-such-estimator"])
    with pytest.raises(DataNotFoundError, match="chart curves file not found"):
        load_chart_curves(tmp_path / "missing.crfs")


def test_chart_curves_from_a_file_and_missing_cameras(tmp_path):
    root = make_folder(tmp_path / "mb")
    inv = crfkit.Curve.srgb().inverse().values
    cs = crfkit.CurveSet(np.stack([inv] * 3), kind="inverse", names=["CamA/R", "CamA/G", "CamA/B"])
    path = tmp_path / "charts.crfs"
    cs.save(path)
    res = evaluate_real(root, methods=[], chart=path, bracket=False)
    assert CHART in res.methods
    np.testing.assert_allclose(res.errors[CHART][0], res.errors[SRGB][0], atol=1e-6)
    assert np.all(np.isnan(res.errors[CHART][1]))  # CamB has no chart curve
    assert any("CamB" in r and "no chart curve" in r for r in res.reasons[CHART])
    rows = {r["method"]: r for r in res.summary()}
    assert rows[CHART]["n_cameras"] == 1 and rows[CHART]["n_failed_jpegs"] == 4
    bad = crfkit.CurveSet(np.stack([inv] * 2), kind="inverse", names=["CamA/R", "CamA/G"])
    bad.save(tmp_path / "bad.crfs")
    with pytest.raises(ValidationError, match="3 curves per camera"):
        evaluate_real(root, methods=[], chart=tmp_path / "bad.crfs")


@pytest.fixture(scope="module")
def two_cameras():
    from conftest import require_real_data

    env = require_real_data()
    if not (env / MIDDLEBURY_FOLDER).is_dir():
        pytest.fail(f"CRFKIT_DATA={str(env)!r} is set but {env / MIDDLEBURY_FOLDER} is missing", pytrace=False)
    return evaluate_real(env / MIDDLEBURY_FOLDER, methods=["lin2004"], cameras=["NikonD70", "PentaxK10D"])


@pytest.mark.realdata
def test_middlebury_two_cameras(two_cameras):
    res = two_cameras
    assert res.methods == ["lin2004", SRGB, GAMMA, CHART, BRACKET]
    assert res.cameras == ["NikonD70", "PentaxK10D"]
    for m in res.methods:
        assert np.all(np.isfinite(res.errors[m])), (m, res.reasons[m])
    mean = {r["method"]: r["mean"] for r in res.summary()}
    # the chart curve (built from illumination 1) and the bracket beat both fixed curves on these cameras
    assert mean[CHART] < mean[SRGB] < mean[GAMMA]
    assert mean[BRACKET] < mean[SRGB]
    assert res.reference() == CHART
    # the shared measure: the sRGB row equals the bracket analysis' score of the same JPEGs
    b = load_middlebury_brackets(illuminations=(2,), cameras=["NikonD70"])[0]
    assert res.camera_means(SRGB)[0] == pytest.approx(score_bracket(crfkit.Curve.srgb().inverse(), b).mean())


@pytest.mark.realdata
def test_cli_real(tmp_path):
    root = make_folder(tmp_path / "mb", cameras=("CamA",))
    out = tmp_path / "real.md"
    proc = subprocess.run([sys.executable, "-m", "crfkit", "evaluate-estimators", "--real", str(root),
                           "--methods", "lin2004", "-o", str(out), "--json", str(tmp_path / "real.json")],
                          capture_output=True, text=True, env=dict(os.environ), timeout=300)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "| lin2004 |" in text and "| sRGB inverse |" in text and "| CamA |" in text
    assert "crf-net" not in text and "lin2004:per-channel" not in text  # only what --methods names
    assert json.loads((tmp_path / "real.json").read_text())["cameras"] == ["CamA"]
    bad = make_folder(tmp_path / "bad", cameras=("CamA",), crop_raw=("CamA", 1))
    proc = subprocess.run([sys.executable, "-m", "crfkit", "evaluate-estimators", "--real", str(bad),
                           "--methods", "lin2004"], capture_output=True, text=True, env=dict(os.environ), timeout=300)
    assert proc.returncode == 2 and "wb1i2e1-jpg.png" in proc.stderr and "Traceback" not in proc.stderr


def test_default_methods_skip_estimators_without_their_extra(tmp_path, monkeypatch):
    import crfkit.estimators as E
    from crfkit.errors import MissingDependencyError

    def fake(name, **opts):
        raise MissingDependencyError(f"{name} needs the torch extra")

    monkeypatch.setattr(E, "get_estimator", fake)
    root = make_folder(tmp_path / "mb", cameras=("CamA",))
    res = evaluate_real(root, bracket=False)
    assert res.methods == [SRGB, GAMMA]
    assert set(res.info["skipped_estimators"]) == set(E.available_estimators())
    with pytest.raises(MissingDependencyError):
        evaluate_real(root, methods=["crf-net"], bracket=False)


@pytest.mark.parametrize("given, expected", [(None, None), ("crf-net,linearization-net", ["crf-net", "linearization-net"]),
                                             ("lin2004", ["lin2004"])])
def test_cli_real_scores_what_methods_names(tmp_path, monkeypatch, given, expected):
    """Only an absent --methods means every registered estimator; typing the held-out default does not."""
    import crfkit.evaluation.real_estimators as R
    from crfkit.cli import main

    seen = []

    def fake(root, methods=None, **kw):
        seen.append(methods)
        raise R.ValidationError("stop here")

    monkeypatch.setattr(R, "evaluate_real", fake)
    args = ["evaluate-estimators", "--real", str(tmp_path)] + (["--methods", given] if given else [])
    assert main(args) == 2
    assert seen == [expected]
