"""The user-facing commands fit, estimate, linearize, restore and export, run in-process.

Each test calls ``crfkit.cli.main([...])`` and reads what a user would see on
stdout/stderr; a user's mistake must give exit status 2 and exactly one line,
with nothing written.
"""

import json
import os

import numpy as np
import pytest

import crfkit
from crfkit.cli import main

GRID = np.linspace(0, 1, 1024)


def run(capsys, *args):
    """(status, stdout, stderr) of ``crfkit ARGS``."""
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def one_line_error(capsys, *args, fragments=()):
    status, out, err = run(capsys, *args)
    lines = err.strip().splitlines()
    assert status == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    for frag in fragments:
        assert frag in lines[0], lines[0]
    return lines[0]


def photo(h=48, w=64, seed=0, bright=1.0):
    """A smooth uint8 RGB photo; ``bright`` > 1 clips part of it."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x / w, y / h, (x / w + y / h) / 2], -1) * bright + 0.02 * rng.standard_normal((h, w, 3))
    return (np.clip(base, 0, 1) ** (1 / 2.2) * 255).round().astype(np.uint8)


@pytest.fixture
def photos(tmp_path):
    import imageio.v3 as iio

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        iio.imwrite(folder / f"p{i}.png", photo(seed=i, bright=1.3))
    return folder


@pytest.fixture
def rgb_set(tmp_path):
    """One camera's R, G, B inverse curves, and a set of two cameras."""
    gammas = (1.8, 2.2, 2.6)
    cam = crfkit.CurveSet(np.stack([GRID ** g for g in gammas]), "inverse", ["cam/R", "cam/G", "cam/B"])
    cam.save(tmp_path / "cam.crfs")
    two = crfkit.CurveSet(np.stack([GRID ** g for g in gammas * 2]), "inverse",
                          ["a-Red", "a-Green", "a-Blue", "b-Red", "b-Green", "b-Blue"])
    two.save(tmp_path / "two.crfs")
    return tmp_path / "cam.crfs", tmp_path / "two.crfs"


# -- fit -------------------------------------------------------------------------------------
def test_fit_reads_csv_with_header_and_tsv_codes_with_scale(tmp_path, capsys):
    x = np.linspace(0.05, 1, 15)
    y = x ** (1 / 2.2)
    (tmp_path / "h.csv").write_text("x,y,weight\n" + "\n".join(f"{a},{b},1" for a, b in zip(x, y)) + "\n")
    status, out, err = run(capsys, "fit", tmp_path / "h.csv", "-m", "gamma")
    assert status == 0, err
    assert "parameters: 0.4545" in out
    # header names in another order: the columns are taken by name
    (tmp_path / "swap.csv").write_text("weight,brightness,irradiance\n" + "\n".join(f"1,{b},{a}" for a, b in zip(x, y)))
    status, out, _ = run(capsys, "fit", tmp_path / "swap.csv", "-m", "gamma")
    assert status == 0 and "parameters: 0.4545" in out
    # 8-bit and 16-bit codes: an error that says which --scale to give, then a fit with it
    codes = tmp_path / "codes.tsv"
    codes.write_text("irradiance\tcode\n" + "\n".join(f"{a}\t{round(b * 255)}" for a, b in zip(x, y)) + "\n")
    one_line_error(capsys, "fit", codes, "-m", "gamma", fragments=("8-bit codes", "--scale 255", "codes.tsv"))
    status, out, err = run(capsys, "fit", codes, "-m", "gamma", "--scale", 255)
    assert status == 0, err
    assert float(out.split("parameters: ")[1].split()[0]) == pytest.approx(1 / 2.2, abs=0.01)
    codes16 = tmp_path / "codes16.txt"
    codes16.write_text("\n".join(f"{a} {round(b * 65535)}" for a, b in zip(x, y)))
    one_line_error(capsys, "fit", codes16, "-m", "gamma", fragments=("16-bit", "--scale 65535"))
    codes12 = tmp_path / "codes12.txt"
    codes12.write_text("\n".join(f"{a} {round(b * 4095)}" for a, b in zip(x, y)))
    one_line_error(capsys, "fit", codes12, "-m", "gamma", fragments=("12-bit", "--scale 4095"))
    one_line_error(capsys, "fit", "dorf-test", "--scale", 255, fragments=("--scale", "text file"))
    one_line_error(capsys, "fit", tmp_path / "h.csv", "--scale", 255, fragments=("already lie in [0, 1]", "--scale"))
    # inverse samples: the header's quantity names put the codes on x
    inv = tmp_path / "inv.csv"
    inv.write_text("code,irradiance\n" + "\n".join(f"{c},{(c / 255) ** 2.2}" for c in range(10, 251, 20)))
    one_line_error(capsys, "fit", inv, "--inverse", "-m", "gamma", fragments=("x (brightness)", "--scale 255"))
    status, out, err = run(capsys, "fit", inv, "--inverse", "-m", "gamma", "--scale", 255)
    assert status == 0 and float(out.split("parameters: ")[1].split()[0]) == pytest.approx(2.2, abs=0.05), err
    one_line_error(capsys, "fit", tmp_path, fragments=("is a folder",))


def test_fit_answers_an_image_or_binary_file_clearly(tmp_path, capsys):
    import imageio.v3 as iio

    iio.imwrite(tmp_path / "photo.png", photo())
    line = one_line_error(capsys, "fit", tmp_path / "photo.png", fragments=("PNG image", "crfkit estimate"))
    assert "utf" not in line.lower() and "decod" not in line.lower()
    (tmp_path / "blob.dat").write_bytes(bytes(range(256)) * 4)
    line = one_line_error(capsys, "fit", tmp_path / "blob.dat", fragments=("blob.dat",))
    assert "codec" not in line


def test_fit_save_formats_by_suffix_and_says_what_it_wrote(tmp_path, capsys):
    x = np.linspace(0.05, 1, 15)
    np.savetxt(tmp_path / "s.txt", np.c_[x, x ** 0.5])
    bad = tmp_path / "mycrf.txt"
    one_line_error(capsys, "fit", tmp_path / "s.txt", "-m", "gamma", "--save", bad, fragments=("mycrf.txt", ".crfs"))
    assert not bad.exists()
    out = tmp_path / "fit.crfs"
    status, _, err = run(capsys, "fit", tmp_path / "s.txt", "-m", "gamma", "--save", out)
    assert status == 0 and f"wrote {out}" in err
    assert crfkit.CurveSet.load(out)[0].rmse(crfkit.Curve(GRID ** 0.5)) < 1e-3
    # unusable output paths: one line, before any work
    one_line_error(capsys, "fit", tmp_path / "s.txt", "--save", tmp_path / "nofolder" / "x.crfs",
                   fragments=("does not exist",))
    (tmp_path / "dir.crfs").mkdir()
    one_line_error(capsys, "fit", tmp_path / "s.txt", "--save", tmp_path / "dir.crfs", fragments=("is a folder",))


def test_fit_save_in_export_formats(tmp_path, capsys):
    pytest.importorskip("colour")
    x = np.linspace(0.05, 1, 15)
    np.savetxt(tmp_path / "s.txt", np.c_[x, x ** 0.5])
    for suffix in (".cube", ".spi1d", ".json", ".csv"):
        out = tmp_path / f"fit{suffix}"
        status, _, err = run(capsys, "fit", tmp_path / "s.txt", "-m", "gamma", "--save", out)
        assert status == 0 and f"wrote {out}" in err and out.stat().st_size > 0, err


def test_fit_plot_on_a_set_names_the_plotted_curve(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    cs = crfkit.CurveSet(np.stack([GRID ** (1 / g) for g in (1.5, 2.2, 3.0)]), "forward", ["soft", "mid", "hard"])
    cs.save(tmp_path / "three.crfs")
    png = tmp_path / "fit.png"
    status, out, err = run(capsys, "fit", tmp_path / "three.crfs", "-m", "gamma", "--plot", png)
    assert status == 0, err
    wrote = [ln for ln in err.splitlines() if ln.startswith(f"wrote {png}")]
    assert len(wrote) == 1 and "worst-fitted of 3" in wrote[0] and "--plot-curve" in wrote[0]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    status, _, err = run(capsys, "fit", tmp_path / "three.crfs", "-m", "gamma", "--plot", png, "--plot-curve", "mid")
    assert status == 0 and "curve 'mid' of 3" in err
    one_line_error(capsys, "fit", tmp_path / "three.crfs", "-m", "gamma", "--plot", png, "--plot-curve", "nope",
                   fragments=("--plot-curve", "nope"))
    one_line_error(capsys, "fit", tmp_path / "three.crfs", "--plot", tmp_path / "fit.txt", fragments=("fit.txt",))
    one_line_error(capsys, "fit", tmp_path / "three.crfs", "--plot-curve", "mid", fragments=("--plot",))


def test_fit_error_messages_name_the_data():
    """Chart fits without a camera name said 'FitError: : 8 patches ...'."""
    from crfkit.calibration import ChartSamples, fit_crf_colour
    from crfkit.errors import FitError

    base = np.linspace(0.9, 0.03, 6)[:, None].repeat(3, 1)
    raw = np.vstack([base * e for e in (0.5, 1.0)])
    jpg = np.clip(raw ** (1 / 2.2), 0, 1)
    s = ChartSamples(raw, jpg, np.ones_like(raw), np.repeat(np.arange(2), 6), "linear+jpeg",
                     patch=np.tile(np.arange(18, 24), 2))
    with pytest.raises(FitError) as info:
        fit_crf_colour(s, method="polynomial", k=8)
    assert not str(info.value).startswith(":") and str(info.value).startswith("chart samples: 12 patches")


# -- linearize -------------------------------------------------------------------------------
def test_linearize_applies_one_cameras_rgb_set_per_channel(tmp_path, photos, rgb_set, capsys):
    cam, _ = rgb_set
    out = tmp_path / "lin.npy"
    status, _, err = run(capsys, "linearize", photos / "p0.png", "--curve", cam, "-o", out)
    assert status == 0 and f"wrote {out}" in err and "per channel" in err, err
    import imageio.v3 as iio

    img = iio.imread(photos / "p0.png")
    expected = crfkit.linearize(img, crfkit.CurveSet.load(cam))
    assert np.allclose(np.load(out), expected, atol=1e-6)
    assert not np.allclose(np.load(out)[..., 0], crfkit.linearize(img, crfkit.CurveSet.load(cam)[0])[..., 2])


def test_linearize_refuses_a_set_that_is_not_one_camera(tmp_path, photos, rgb_set, capsys):
    _, two = rgb_set
    out = tmp_path / "lin.npy"
    one_line_error(capsys, "linearize", photos / "p0.png", "--curve", two, "-o", out,
                   fragments=("two.crfs", "6 curves", "--curve-index", "--curve-name"))
    assert not out.exists()
    status, _, err = run(capsys, "linearize", photos / "p0.png", "--curve", two, "--curve-name", "b-Green", "-o", out)
    assert status == 0, err
    import imageio.v3 as iio

    img = iio.imread(photos / "p0.png")
    assert np.allclose(np.load(out), crfkit.linearize(img, crfkit.CurveSet.load(two)[4]), atol=1e-6)
    status, _, err = run(capsys, "linearize", photos / "p0.png", "--curve", two, "--curve-index", 1, "-o", out)
    assert status == 0, err
    one_line_error(capsys, "linearize", photos / "p0.png", "--curve", two, "--curve-index", 9, "-o", out,
                   fragments=("9",))


def test_linearize_sample_file_is_a_clear_error(tmp_path, photos, capsys):
    """Issue 12, defect 10: `--curve samples.csv` ended in a TypeError traceback."""
    x = np.linspace(0, 1, 12)
    (tmp_path / "samples.csv").write_text("\n".join(f"{a},{a ** 2.2}" for a in x))
    one_line_error(capsys, "linearize", photos / "p0.png", "--curve", tmp_path / "samples.csv",
                   "-o", tmp_path / "l.exr", fragments=("samples.csv", "samples", "crfkit fit"))
    one_line_error(capsys, "linearize", photos / "p0.png", "--curve", tmp_path / "none.crfs",
                   "-o", tmp_path / "l.exr", fragments=("none.crfs",))


@pytest.mark.parametrize("suffix", [".npy", ".tif", ".tiff", ".hdr", ".exr"])
def test_linearize_output_formats_by_suffix(tmp_path, photos, suffix, capsys):
    if suffix == ".exr":
        pytest.importorskip("OpenEXR")
    if suffix == ".hdr":
        pytest.importorskip("cv2")
    out = tmp_path / f"lin{suffix}"
    status, _, err = run(capsys, "linearize", photos / "p0.png", "--curve", "srgb", "-o", out)
    assert status == 0 and f"wrote {out}" in err, err
    import imageio.v3 as iio

    expected = crfkit.linearize(iio.imread(photos / "p0.png"), _srgb())
    if suffix == ".npy":
        got = np.load(out)
    elif suffix in (".tif", ".tiff"):
        raw = iio.imread(out)
        assert raw.dtype == np.uint16
        got = raw / 65535.0
    else:
        from crfkit.io.hdr import read_hdr

        got = read_hdr(out)
    tol = {".hdr": 0.02, ".tif": 1e-4, ".tiff": 1e-4}.get(suffix, 1e-6)
    assert got.shape == expected.shape and np.allclose(got, expected, atol=tol, rtol=tol)


def _srgb():
    from crfkit.restoration.pipeline import resolve_inverse_crf

    return resolve_inverse_crf("srgb")


def test_linearize_bad_outputs_fail_before_any_work(tmp_path, photos, capsys):
    one_line_error(capsys, "linearize", photos / "p0.png", "--curve", "srgb", "-o", tmp_path / "x.png",
                   fragments=("x.png", ".exr", ".tif"))
    one_line_error(capsys, "linearize", photos / "p0.png", "--curve", "srgb", "-o", tmp_path / "no" / "x.exr",
                   fragments=("does not exist",))
    (tmp_path / "d.exr").mkdir()
    one_line_error(capsys, "linearize", photos / "p0.png", "--curve", "srgb", "-o", tmp_path / "d.exr",
                   fragments=("is a folder",))
    one_line_error(capsys, "linearize", photos / "p0.png", "--curve", "srgb", "-o", photos,
                   fragments=("is a folder", "several inputs"))
    one_line_error(capsys, "linearize", photos / "p0.png", "--curve", "srgb", "-o", tmp_path / "h.npy", "--half",
                   fragments=("--half", ".exr"))
    one_line_error(capsys, "linearize", photos / "p0.png", "--curve-index", 0, "-o", tmp_path / "l.npy",
                   fragments=("--curve",))
    one_line_error(capsys, "linearize", photos / "p0.png", "--curve", "srgb", "-m", "crf-net", "-o",
                   tmp_path / "l.npy", fragments=("--curve", "--method", "ignored"))
    assert not list(tmp_path.glob("*.npy")) and not list(tmp_path.glob("x.*"))


def test_outputs_in_a_folder_that_refuses_writes_fail_up_front(tmp_path, photos, capsys, monkeypatch):
    """A read-only or refusing folder (simulated: root may write anywhere) gives one line, before any work."""
    import tempfile

    import crfkit._io as cio

    real = tempfile.mkstemp
    refused = tmp_path / "refused"
    refused.mkdir()

    def mkstemp(*args, dir=None, **kw):
        if dir is not None and os.path.samefile(dir, refused):
            raise PermissionError(13, "Permission denied")
        return real(*args, dir=dir, **kw)

    monkeypatch.setattr(cio.tempfile, "mkstemp", mkstemp)
    for args in (["linearize", photos / "p0.png", "--curve", "srgb"], ["restore", photos / "p0.png"],
                 ["estimate", photos / "p0.png"]):
        suffix = ".json" if args[0] == "estimate" else ".exr"
        one_line_error(capsys, *args, "-o", refused / f"x{suffix}", fragments=("cannot write", "Permission denied"))
    one_line_error(capsys, "fit", "gamma.csv", "--save", refused / "x.crfs", fragments=("cannot write",))
    one_line_error(capsys, "linearize", photos, "--curve", "srgb", "-o", refused, fragments=("cannot write",))
    assert not list(refused.iterdir())


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_outputs_in_a_read_only_folder_fail_up_front(tmp_path, photos, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        one_line_error(capsys, "linearize", photos / "p0.png", "--curve", "srgb", "-o", ro / "x.npy",
                       fragments=("cannot write",))
        one_line_error(capsys, "restore", photos / "p0.png", "--method", "clip", "-o", ro / "x.exr",
                       fragments=("cannot write",))
    finally:
        ro.chmod(0o700)


def test_linearize_batch_of_a_folder_and_files(tmp_path, photos, capsys):
    out = tmp_path / "out"
    status, _, err = run(capsys, "linearize", photos, "--curve", "gamma:2.2", "-o", out, "--format", "npy")
    assert status == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["p0.npy", "p1.npy", "p2.npy"]
    assert sum(ln.startswith("wrote ") for ln in err.splitlines()) == 3
    # several files into an existing folder, with the default format
    status, _, err = run(capsys, "linearize", photos / "p0.png", photos / "p1.png", "--curve", "srgb", "-o", out)
    if status == 2 and "OpenEXR" in err:
        pytest.skip("OpenEXR missing")
    assert status == 0 and (out / "p0.exr").is_file() and (out / "p1.exr").is_file(), err


def test_batch_failing_input_is_reported_and_the_rest_done(tmp_path, photos, capsys):
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    out = tmp_path / "out"
    status, _, err = run(capsys, "linearize", photos, "--curve", "srgb", "-o", out, "--format", "npy")
    assert status == 1
    errors = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(errors) == 1 and "broken.jpg" in errors[0] and "Traceback" not in err
    assert "1 of 4 inputs failed" in err
    assert sorted(p.name for p in out.iterdir()) == ["p0.npy", "p1.npy", "p2.npy"]
    assert "exit status is then 1" in " ".join(_help(capsys, "linearize").split())


def _help(capsys, command):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    return capsys.readouterr().out


def test_batch_output_must_be_a_folder_and_names_must_not_clash(tmp_path, photos, capsys):
    (tmp_path / "file.npy").write_bytes(b"")
    one_line_error(capsys, "linearize", photos, "--curve", "srgb", "-o", tmp_path / "file.npy",
                   fragments=("names a folder",))
    one_line_error(capsys, "linearize", photos, "--curve", "srgb", "-o", tmp_path / "new.npy",
                   fragments=("names a folder",))
    import shutil

    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(photos / "p0.png", other / "p0.png")
    one_line_error(capsys, "linearize", photos / "p0.png", other / "p0.png", "--curve", "srgb", "-o",
                   tmp_path / "o", fragments=("both write",))
    one_line_error(capsys, "linearize", photos, "--curve", "srgb", "-o", tmp_path / "missing" / "o",
                   fragments=("does not exist",))
    one_line_error(capsys, "linearize", photos / "p0.png", "--curve", "srgb", "-o", tmp_path / "a.npy", "--format",
                   "npy", fragments=("--format",))
    (tmp_path / "empty").mkdir()
    one_line_error(capsys, "linearize", tmp_path / "empty", "--curve", "srgb", "-o", tmp_path / "o",
                   fragments=("empty",))
    assert not (tmp_path / "o").exists()


def test_linearize_refuses_linear_input(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((4, 4, 3), np.float32))
    (tmp_path / "x.exr").write_bytes(b"v/1\x01 not really")
    line = one_line_error(capsys, "linearize", tmp_path / "x.exr", "--curve", "srgb", "-o", tmp_path / "y.npy",
                          fragments=("already an HDR image",))
    assert "OpenCV" not in line


# -- estimate --------------------------------------------------------------------------------
def test_estimate_refuses_linear_input_without_codec_text(tmp_path, capfd):
    (tmp_path / "x.exr").write_bytes(b"v/1\x01 not really an EXR")
    status = main(["estimate", str(tmp_path / "x.exr")])
    out, err = capfd.readouterr()  # capfd: OpenCV writes from C, outside sys.stderr
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert "already an HDR image" in err and "OpenCV" not in err and "codec" not in err.lower()
    status = main(["estimate", str(tmp_path / "missing.png")])
    assert status == 2 and "missing.png" in capfd.readouterr().err


def test_estimate_output_checks_come_before_the_model(tmp_path, photos, capsys, monkeypatch):
    import crfkit.estimators as est

    def no_model(*a, **k):
        raise AssertionError("the model was loaded before the output checks")

    monkeypatch.setattr(est, "get_estimator", no_model)
    one_line_error(capsys, "estimate", photos / "p0.png", "-o", tmp_path / "g.exr", fragments=("g.exr", ".json"))
    one_line_error(capsys, "estimate", photos / "p0.png", "-o", tmp_path / "no" / "g.json",
                   fragments=("does not exist",))
    one_line_error(capsys, "estimate", photos / "p0.png", "--plot", tmp_path / "no" / "g.png",
                   fragments=("does not exist",))
    one_line_error(capsys, "estimate", photos, "--format", "txt", fragments=("--format", "-o"))


class _FakeEstimator:
    """Stands in for a network (no torch): gamma 2.2 for every photo."""

    built = 0

    def __init__(self, **options):
        type(self).built += 1

    def estimate(self, image):
        if np.asarray(image).mean() > 250:
            raise crfkit.ValidationError("too bright to estimate")
        return crfkit.Curve(GRID ** 2.2, "inverse", "fake")


def _fake_estimators(monkeypatch):
    import crfkit.estimators as est

    _FakeEstimator.built = 0
    real = est.get_estimator
    monkeypatch.setattr(est, "get_estimator", lambda name, **o: _FakeEstimator(**o) if name == "fake" else real(name, **o))
    monkeypatch.setattr(est, "available_estimators", lambda: ["crf-net", "linearization-net", "fake"])


def test_estimate_batch_builds_the_model_once(tmp_path, photos, capsys, monkeypatch):
    _fake_estimators(monkeypatch)
    import imageio.v3 as iio

    iio.imwrite(photos / "white.png", np.full((48, 64, 3), 255, np.uint8))
    out = tmp_path / "curves"
    status, stdout, err = run(capsys, "estimate", photos, "-m", "fake", "-o", out, "--json")
    assert status == 1 and _FakeEstimator.built == 1, err
    assert sorted(p.name for p in out.iterdir()) == ["p0.json", "p1.json", "p2.json"]
    results = json.loads(stdout)
    assert [r["image"] for r in results] == [str(photos / f"p{i}.png") for i in range(3)]
    errors = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(errors) == 1 and "white.png" in errors[0] and "too bright" in errors[0]
    assert sum(ln.startswith("wrote ") for ln in err.splitlines()) == 3
    assert json.loads((out / "p1.json").read_text())["kind"] == "inverse"


def test_estimate_single_output_and_plot_say_what_they_wrote(tmp_path, photos, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    _fake_estimators(monkeypatch)
    for suffix in (".txt", ".csv", ".json", ".crfs", ".cube", ".spi1d"):
        out = tmp_path / f"g{suffix}"
        status, stdout, err = run(capsys, "estimate", photos / "p0.png", "-m", "fake", "-o", out)
        assert status == 0 and f"wrote {out}" in err and "inverse CRF: g(0.1)=" in stdout, err
    assert np.allclose(np.loadtxt(tmp_path / "g.txt"), GRID ** 2.2, atol=1e-7)
    assert "LUT_1D_SIZE" in (tmp_path / "g.cube").read_text()
    # what estimate writes, fit and linearize read
    status, stdout, err = run(capsys, "fit", tmp_path / "g.json", "-m", "gamma")
    assert status == 0 and "parameters: 2.2" in stdout, err
    status, _, err = run(capsys, "linearize", photos / "p0.png", "--curve", tmp_path / "g.json", "-o", tmp_path / "l.npy")
    assert status == 0, err
    png = tmp_path / "g.png"
    status, _, err = run(capsys, "estimate", photos / "p0.png", photos / "p1.png", "-m", "fake", "--plot", png)
    assert status == 0 and f"wrote {png} (2 curves)" in err
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_linearize_batch_estimates_with_one_model(tmp_path, photos, capsys, monkeypatch):
    _fake_estimators(monkeypatch)
    out = tmp_path / "lin"
    status, _, err = run(capsys, "linearize", photos, "-m", "fake", "-o", out, "--format", "tif")
    assert status == 0 and _FakeEstimator.built == 1, err
    assert sorted(p.name for p in out.iterdir()) == ["p0.tif", "p1.tif", "p2.tif"]


@pytest.mark.torch
def test_estimate_batch_with_shipped_weights(tmp_path, photos, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "g"
    status, stdout, err = run(capsys, "estimate", photos / "p0.png", photos / "p1.png", "-o", out, "--format", "txt",
                              "--device", "cpu", "-m", "linearization-net")  # crf-net needs 128x128 photos
    assert status == 0, err
    for name in ("p0.txt", "p1.txt"):
        g = np.loadtxt(out / name)
        assert g.shape == (1024,) and g[0] == 0 and g[-1] == 1 and np.all(np.diff(g) >= 0)
    assert stdout.count("inverse CRF:") == 2


# -- restore ---------------------------------------------------------------------------------
def test_restore_batch_with_clip_and_per_input_errors(tmp_path, photos, capsys, monkeypatch):
    import crfkit.restoration as rest

    built = []
    real = rest.get_restorer
    monkeypatch.setattr(rest, "get_restorer", lambda name, **o: built.append(name) or real(name, **o))
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    out = tmp_path / "hdr"
    status, _, err = run(capsys, "restore", photos, "--method", "clip", "-o", out, "--format", "npy")
    assert status == 1 and built == ["clip"], err
    assert sorted(p.name for p in out.iterdir()) == ["p0.npy", "p1.npy", "p2.npy"]
    wrote = [ln for ln in err.splitlines() if ln.startswith("wrote ")]
    assert len(wrote) == 3 and all("% saturated" in ln for ln in wrote)
    assert [ln for ln in err.splitlines() if "error:" in ln][0].count("broken.png") == 1
    import imageio.v3 as iio

    from crfkit.restoration import restore

    assert np.array_equal(np.load(out / "p1.npy"), restore(iio.imread(photos / "p1.png"), method="clip"))


def test_restore_single_errors_are_one_line(tmp_path, photos, capsys):
    one_line_error(capsys, "restore", photos / "p0.png", "-o", tmp_path / "x.png", fragments=("x.png", ".exr", ".tif"))
    one_line_error(capsys, "restore", photos / "p0.png", "-o", tmp_path / "y.exr", "--tiff-white", 4,
                   fragments=("--tiff-white", ".tif"))
    one_line_error(capsys, "restore", photos / "p0.png", "-o", tmp_path / "y.npy", "--half", fragments=("--half",))
    one_line_error(capsys, "restore", photos / "p0.png", "-o", tmp_path / "y.exr", "--tau", 2,
                   fragments=("--tau",))
    one_line_error(capsys, "restore", photos / "p0.png", "-o", tmp_path / "y.exr", "--crf", "srgb",
                   "--crf-weights", "w.pt", fragments=("--crf-weights",))
    (tmp_path / "d.exr").mkdir()
    one_line_error(capsys, "restore", photos / "p0.png", "-o", tmp_path / "d.exr", fragments=("is a folder",))
    # a batch whose command is wrong leaves no output folder behind
    one_line_error(capsys, "restore", photos, "-o", tmp_path / "new", "--crf", "nope", fragments=("nope",))
    one_line_error(capsys, "restore", photos, "-o", tmp_path / "new", "--method", "clip", "--tile", 5,
                   fragments=("tile",))
    assert not (tmp_path / "new").exists()


@pytest.mark.torch
def test_restore_batch_with_shipped_weights_loads_the_network_once(tmp_path, photos, capsys, monkeypatch):
    pytest.importorskip("torch")
    import crfkit.restoration as rest

    built = []
    real = rest.get_restorer
    monkeypatch.setattr(rest, "get_restorer", lambda name, **o: built.append(name) or real(name, **o))
    out = tmp_path / "hdr"
    status, _, err = run(capsys, "restore", photos / "p0.png", photos / "p1.png", "-o", out, "--format", "npy",
                         "--device", "cpu")
    assert status == 0 and built == ["masked-unet"], err
    hdr = np.load(out / "p0.npy")
    assert hdr.shape == (48, 64, 3) and np.isfinite(hdr).all() and hdr.max() > 1.0


# -- export ----------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".cube", ".spi1d", ".json", ".csv"])
def test_export_writes_each_format(tmp_path, rgb_set, suffix, capsys):
    if suffix in (".cube", ".spi1d"):
        pytest.importorskip("colour")
    cam, _ = rgb_set
    out = tmp_path / f"cam{suffix}"
    status, _, err = run(capsys, "export", cam, "-o", out)
    assert status == 0 and f"wrote {out}" in err and out.stat().st_size > 0, err


def test_export_refuses_unknown_suffixes_and_bad_selections(tmp_path, rgb_set, capsys):
    pytest.importorskip("colour")
    cam, two = rgb_set
    one_line_error(capsys, "export", cam, "-o", tmp_path / "x.lut", fragments=("x.lut", ".cube"))
    one_line_error(capsys, "export", cam, "-o", tmp_path / "no" / "x.cube", fragments=("does not exist",))
    one_line_error(capsys, "export", two, "-o", tmp_path / "x.cube", "--index", 9, fragments=("9",))
    one_line_error(capsys, "export", two, "-o", tmp_path / "x.cube", fragments=("6", "--index", "--name"))
    one_line_error(capsys, "export", tmp_path / "none.crfs", "-o", tmp_path / "x.cube", fragments=("none.crfs",))
    assert not (tmp_path / "x.cube").exists()
    status, _, err = run(capsys, "export", two, "-o", tmp_path / "b.cube", "--index", 3, 4, 5)
    assert status == 0, err
    # --kind is another spelling of --direction
    status, _, err = run(capsys, "export", "gamma:2.2", "-o", tmp_path / "f.csv", "--kind", "forward", "--size", 3)
    assert status == 0 and "forward" in err, err
    rows = (tmp_path / "f.csv").read_text().splitlines()
    assert len(rows) == 4 and float(rows[2].split(",")[1]) == pytest.approx(0.5 ** (1 / 2.2), abs=1e-3)


def test_restore_writes_16_bit_tiff_with_its_white(tmp_path, photos, capsys):
    pytest.importorskip("tifffile")
    import imageio.v3 as iio

    from crfkit.restoration import restore

    out = tmp_path / "r.tif"
    status, _, err = run(capsys, "restore", photos / "p0.png", "--method", "clip", "-o", out, "--tiff-white", 2)
    assert status == 0 and f"wrote {out}" in err and "65535 = linear 2" in err, err
    stored = iio.imread(out)
    assert stored.dtype == np.uint16
    expected = restore(iio.imread(photos / "p0.png"), method="clip")
    assert np.allclose(stored / 65535.0 * 2, expected, atol=2 / 65535)


def test_fit_save_lut_of_a_large_set_fails_before_the_fit(tmp_path, rgb_set, capsys):
    pytest.importorskip("colour")
    _, two = rgb_set
    one_line_error(capsys, "fit", two, "-m", "gamma", "--save", tmp_path / "f.cube",
                   fragments=("LUT", "6", "--index"))
    status, _, err = run(capsys, "fit", two, "-m", "gamma", "--save", tmp_path / "f.json")
    assert status == 0 and "6 fitted curves" in err
    doc = json.loads((tmp_path / "f.json").read_text())
    assert doc["kind"] == "inverse" and len(doc["values"]) == 6


def test_restore_threads_hold_for_every_method(tmp_path, photos, capsys, monkeypatch):
    # --threads is the command line's thread policy, not a method option: clip accepts it too
    import crfkit._threads as threads

    seen = []
    real = threads.thread_policy
    monkeypatch.setattr(threads, "thread_policy", lambda n=None: seen.append(n) or real(n))
    status, _, err = run(capsys, "restore", photos / "p0.png", "-o", tmp_path / "c.npy", "--method", "clip",
                         "--threads", 1)
    assert status == 0 and (tmp_path / "c.npy").is_file(), err
    assert seen[0] == 1  # the library nests its own policy, which keeps the outer count


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_script_lists_every_command_and_completes_in_bash(shell, capsys, tmp_path):
    import shutil
    import subprocess

    from crfkit.cli import _subparsers, build_parser

    status, script, err = run(capsys, "completion", shell)
    assert status == 0, err
    for command in _subparsers(build_parser()):
        assert f" {command}) " in script or f"{command} " in script
    if shell == "bash" and shutil.which("bash"):
        (tmp_path / "c.sh").write_text(script)
        probe = ('source c.sh; COMP_WORDS=(crfkit linea); COMP_CWORD=1; _crfkit_complete; echo "${COMPREPLY[@]}"; '
                 'COMP_WORDS=(crfkit linearize --curve-i); COMP_CWORD=2; _crfkit_complete; echo "${COMPREPLY[@]}"')
        out = subprocess.run(["bash", "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
        assert out.split("\n")[:2] == ["linearize", "--curve-index"]
