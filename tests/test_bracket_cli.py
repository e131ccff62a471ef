"""``crfkit calibrate`` and ``crfkit merge`` end to end, in-process, on small files written here.

A user's mistake must be one line on stderr (``crfkit CMD: error: ...``) and exit
status 2, never a traceback.  The brackets are the synthetic ones of
test_bracket.py (sRGB camera, exposures one stop apart), written as PNG or as
JPEG with an EXIF exposure time.
"""

import json

import numpy as np
import pytest

import crfkit
from crfkit.cli import main
from crfkit.io.images import write_image

from test_bracket import CURVES, GAMMA_PRIOR, H, W, bracket, relative_errors, scene, textured_bracket

TIMES = ("1", "2", "4", "8")
DATA_FREE = ("--model", "polynomial")  # the default model (PCA of DoRF) needs CRFKIT_DATA


def run(capsys, *args):
    """``crfkit ARGS`` in-process: (exit status, stdout, stderr)."""
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return rc, out, err


def assert_one_line_error(rc, err, command, *fragments):
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"crfkit {command}: error: "), err
    for frag in fragments:
        assert frag in lines[0], err


@pytest.fixture
def pngs(tmp_path):
    """Four PNGs (no EXIF) in tmp_path/bracket: the exposures 1, 2, 4, 8 of an sRGB camera."""
    folder = tmp_path / "bracket"
    folder.mkdir()
    paths = []
    for i, im in enumerate(bracket(times=(1.0, 2.0, 4.0, 8.0))):
        p = folder / f"shot{i}.png"
        write_image(p, im)
        paths.append(p)
    return paths


@pytest.fixture
def jpegs(tmp_path):
    """Three JPEGs with EXIF exposure times 1/100, 1/50, 1/25 s."""
    from PIL import Image

    folder = tmp_path / "jpegs"
    folder.mkdir()
    paths = []
    for i, (im, t) in enumerate(zip(bracket(times=(1.0, 2.0, 4.0)), (0.01, 0.02, 0.04))):
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0x829A] = t  # ExposureTime, in the Exif sub-IFD as cameras write it
        p = folder / f"IMG_{i}.jpg"
        Image.fromarray(im).save(p, quality=95, exif=exif)
        paths.append(p)
    return paths


@pytest.fixture
def gamma_prior(tmp_path):
    """A .crfs times prior that needs no data files."""
    path = tmp_path / "gammas.crfs"
    GAMMA_PRIOR.save(path)
    return path


# ----------------------------------------------------------------------------- calibrate
def test_calibrate_writes_curves_and_plot(capsys, tmp_path, pngs):
    pytest.importorskip("matplotlib")
    out_crfs, out_png = tmp_path / "camera.crfs", tmp_path / "crf.png"
    rc, out, err = run(capsys, "calibrate", *pngs, "--times", *TIMES, *DATA_FREE, "--bootstrap", "5",
                       "-o", out_crfs, "--plot", out_png)
    assert rc == 0, err
    assert "calibrated 4 images" in out and "exposures (given): 1, 2, 4, 8" in out
    assert "fit residual" in out and "95% band width" in out
    assert f"wrote {out_crfs}" in err and f"wrote {out_png}" in err and "warning" not in err
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cs = crfkit.load_curves(out_crfs)
    assert cs.kind == "forward" and len(cs) == 3 and cs.names == ["R", "G", "B"]
    meta = cs.attrs["bracket"]
    assert meta["times"] == [1.0, 2.0, 4.0, 8.0] and meta["times_source"] == "given"
    assert np.array(meta["band"]).shape == (3, 2, 1024)
    assert cs.inverse().rmse(CURVES["srgb"].inverse().values).max() < 0.01


def test_calibrate_json_summary(capsys, pngs):
    rc, out, err = run(capsys, "calibrate", pngs[0].parent, "--times", *TIMES, *DATA_FREE, "--bootstrap", "0",
                       "--json", "--shared")
    assert rc == 0, err
    data = json.loads(out)
    assert data["inputs"] == [p.name for p in pngs]
    assert data["times"] == [1.0, 2.0, 4.0, 8.0] and data["times_source"] == "given"
    assert len(data["rmse"]) == 3 and data["rmse"][0] == data["rmse"][1] == data["rmse"][2]
    assert data["band_width"] == [None, None, None]


def test_calibrate_reads_exif_times(capsys, tmp_path, jpegs):
    out_crfs = tmp_path / "cam.crfs"
    rc, out, err = run(capsys, "calibrate", *jpegs, *DATA_FREE, "--bootstrap", "0", "-o", out_crfs)
    assert rc == 0, err
    assert "warning" not in err
    assert "exposures (exif): 0.01, 0.02, 0.04" in out
    assert crfkit.load_curves(out_crfs).attrs["bracket"]["times"] == pytest.approx([0.01, 0.02, 0.04])
    # --times wins over EXIF; --unknown-times ignores it
    rc, out, err = run(capsys, "calibrate", *jpegs, *DATA_FREE, "--bootstrap", "0", "--times", "1/4", "1/2", "1")
    assert rc == 0 and "exposures (given): 0.25, 0.5, 1" in out


def test_calibrate_without_exif_warns_and_estimates(capsys, pngs, gamma_prior):
    rc, out, err = run(capsys, "calibrate", *pngs, *DATA_FREE, "--bootstrap", "0", "--times-prior", gamma_prior)
    assert rc == 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("crfkit calibrate: warning: no EXIF exposure time"), err
    assert "exposures (estimated" in out
    times = [float(v) for v in out.split("exposures (")[1].split(": ")[1].splitlines()[0].split(", ")]
    np.testing.assert_allclose(times, [1, 2, 4, 8], rtol=0.1)
    # asked for: no warning
    rc, out, err = run(capsys, "calibrate", *pngs, *DATA_FREE, "--bootstrap", "0", "--unknown-times",
                       "--times-prior", gamma_prior)
    assert rc == 0 and err == "", err
    # Mitsunaga-Nayar and Debevec with unknown times
    for method in ("mitsunaga-nayar", "debevec"):
        rc, out, err = run(capsys, "calibrate", *pngs, "--method", method, "--bootstrap", "0", "--unknown-times",
                           "--times-prior", gamma_prior)
        assert rc == 0 and "exposures (estimated" in out, err


@pytest.mark.realdata("dorfCurves.txt", "emor.txt", "invemor.txt")
def test_calibrate_and_merge_with_defaults(capsys, tmp_path, pngs):
    """The default model (a degree-6 polynomial) and times prior (shipped with crfkit)."""
    rc, out, err = run(capsys, "calibrate", *pngs, "--times", *TIMES, "--bootstrap", "0", "-o", tmp_path / "c.crfs")
    assert rc == 0, err
    assert "self-calibration (Poly0-6)" in out
    assert crfkit.load_curves(tmp_path / "c.crfs").inverse().rmse(CURVES["srgb"].inverse().values).max() < 0.01
    # no EXIF, no --times: a warning, the ratios estimated with the EMoR prior (biased for an sRGB camera,
    # see test_bracket.py::test_unknown_times_of_an_srgb_camera_with_the_default_prior)
    rc, out, err = run(capsys, "merge", pngs[0].parent, "-o", tmp_path / "s.exr")
    assert rc == 0, err
    assert err.startswith("crfkit merge: warning: no EXIF exposure time")
    assert (tmp_path / "s.exr").is_file() and (tmp_path / "s.exr.json").is_file()
    assert json.loads((tmp_path / "s.exr.json").read_text())["times_source"].startswith("estimated")


# ----------------------------------------------------------------------------- merge
def test_merge_writes_exr_and_sidecar(capsys, tmp_path, pngs):
    from crfkit.io.hdr import read_exr

    out_exr = tmp_path / "scene.exr"
    rc, out, err = run(capsys, "merge", pngs[0].parent, "-o", out_exr, "--times", *TIMES, *DATA_FREE)
    assert rc == 0, err
    assert f"wrote {out_exr} and {out_exr}.json" in err
    hdr = read_exr(out_exr)
    assert hdr.dtype == np.float32 and hdr.shape == (H, W, 3) and np.all(np.isfinite(hdr))
    assert np.percentile(relative_errors(hdr, scene()), 99) < 0.02
    meta = json.loads((tmp_path / "scene.exr.json").read_text())
    assert meta["inputs"] == [p.name for p in pngs] and meta["output"] == "scene.exr"
    assert meta["times"] == [1.0, 2.0, 4.0, 8.0] and meta["times_source"] == "given"
    assert "calibrated from this bracket" in meta["crf"] and "noise-aware" in meta["weighting"]
    assert meta["value_range"] == pytest.approx([float(hdr.min()), float(hdr.max())], rel=1e-6)
    assert meta["clipped_in_all_share"] == 0.0


def test_merge_with_the_calibrated_crfs(capsys, tmp_path, pngs):
    from crfkit.io.hdr import read_exr

    crfs = tmp_path / "camera.crfs"
    rc, _, err = run(capsys, "calibrate", *pngs, "--times", *TIMES, *DATA_FREE, "--bootstrap", "0", "-o", crfs)
    assert rc == 0, err
    rc, _, err = run(capsys, "merge", *pngs, "--crf", crfs, "-o", tmp_path / "a.exr", "--times", *TIMES)
    assert rc == 0, err
    hdr = read_exr(tmp_path / "a.exr")
    ref = crfkit.merge_bracket([crfkit.io.images.read_image(p) for p in pngs], [1, 2, 4, 8], crf=str(crfs))
    np.testing.assert_allclose(hdr, ref, rtol=1e-6)
    meta = json.loads((tmp_path / "a.exr.json").read_text())
    assert meta["times_source"] == "given"
    # the given curve is checked against the bracket: in agreement here, said and recorded
    assert 0 <= meta["exposure_disagreement"] < 0.05
    assert "check of the given curve and times: consecutive exposures" in err and "warning" not in err
    # without --times: the ratios are estimated with the curve
    rc, _, err = run(capsys, "merge", *pngs, "--crf", crfs, "-o", tmp_path / "b.exr", "--weighting", "hat")
    assert rc == 0, err
    meta = json.loads((tmp_path / "b.exr.json").read_text())
    assert meta["times_source"].startswith("estimated")
    np.testing.assert_allclose(meta["times"], [1, 2, 4, 8], rtol=0.03)
    assert "triangle" in meta["weighting"]


def test_merge_half_exr_and_hdr(capsys, tmp_path, pngs):
    from crfkit.io.hdr import read_exr

    common = [*pngs, "--crf", "srgb", "--times", *TIMES]
    rc, _, err = run(capsys, "merge", *common, "-o", tmp_path / "f.exr")
    assert rc == 0, err
    full = read_exr(tmp_path / "f.exr")
    rc, _, err = run(capsys, "merge", *common, "--half", "-o", tmp_path / "h.exr")
    assert rc == 0, err
    np.testing.assert_allclose(read_exr(tmp_path / "h.exr"), full, rtol=1e-3)  # half floats
    pytest.importorskip("cv2")
    rc, _, err = run(capsys, "merge", *common, "-o", tmp_path / "r.hdr")
    assert rc == 0, err
    assert (tmp_path / "r.hdr").stat().st_size > 0 and (tmp_path / "r.hdr.json").is_file()


def test_taper_words_in_any_case(capsys, tmp_path, pngs):
    """--highlight-taper AUTO and None are the words auto and none (AUTO was once refused while NONE passed)."""
    from crfkit.io.hdr import read_exr

    common = [*pngs, "--crf", "srgb", "--times", *TIMES]
    merged = {}
    for word in ("auto", "AUTO", "none", "None"):
        rc, _, err = run(capsys, "merge", *common, "--highlight-taper", word, "-o", tmp_path / f"{word}.exr")
        assert rc == 0, err
        merged[word] = read_exr(tmp_path / f"{word}.exr")
    np.testing.assert_array_equal(merged["AUTO"], merged["auto"])
    np.testing.assert_array_equal(merged["None"], merged["none"])
    assert not np.array_equal(merged["auto"], merged["none"])  # the words do choose different weights


def test_merge_sidecar_never_replaces_the_crf_file(capsys, tmp_path, pngs):
    """-o m.exr writes m.exr.json: a --crf curve saved under that name was once replaced by the sidecar."""
    crf = tmp_path / "m.exr.json"
    crf.write_text('{"name": "camera", "kind": "inverse"}')  # the check needs only the file to exist
    before = crf.read_bytes()
    rc, _, err = run(capsys, "merge", *pngs, "--times", *TIMES, "--crf", crf, "-o", tmp_path / "m.exr")
    assert_one_line_error(rc, err, "merge", "sidecar", "m.exr.json")
    assert crf.read_bytes() == before and not (tmp_path / "m.exr").exists()


def test_merge_deghost(capsys, tmp_path, pngs):
    """--deghost names its reference (chosen, or given by file name) and the share left out, also in the sidecar."""
    common = [*pngs, "--crf", "srgb", "--times", *TIMES]
    rc, _, err = run(capsys, "merge", *common, "--deghost", "-o", tmp_path / "a.exr")
    assert rc == 0, err
    meta = json.loads((tmp_path / "a.exr.json").read_text())
    assert meta["deghost_reference"] in [p.name for p in pngs] and 0 <= meta["ghost_share"] < 0.01
    assert f"deghosted against {meta['deghost_reference']}" in err
    rc, _, err = run(capsys, "merge", *common, "--deghost", str(pngs[1]), "-o", tmp_path / "b.exr")
    assert rc == 0, err
    assert json.loads((tmp_path / "b.exr.json").read_text())["deghost_reference"] == pngs[1].name
    rc, _, err = run(capsys, "merge", *common, "-o", tmp_path / "c.exr", "--deghost", "other.png")
    assert_one_line_error(rc, err, "merge", "--deghost: 'other.png' is not one of the inputs", pngs[0].name)
    assert not (tmp_path / "c.exr").exists()
    rc, _, err = run(capsys, "merge", *common, "-o", tmp_path / "d.exr")
    assert rc == 0 and "ghost_share" not in json.loads((tmp_path / "d.exr.json").read_text())


def test_align_on_small_images_is_no_error(capsys, tmp_path):
    """AlignMTB cannot work on 48x64 pixels: warnings, the images merged as they are (OpenCV's error once escaped)."""
    pytest.importorskip("cv2")
    paths = _small_pngs(tmp_path)
    rc, out, err = run(capsys, "merge", *paths, "--times", "1", "2", "--crf", "srgb", "--align", "-o",
                       tmp_path / "s.exr")
    assert rc == 0, err
    rc, out, err = run(capsys, "calibrate", *paths, "--times", "1", "2", *DATA_FREE, "--align", "--bootstrap", "0")
    assert rc in (0, 2) and "Traceback" not in err  # flat images: nothing to calibrate, but no crash


def test_merge_align(capsys, tmp_path):
    """--align puts back a shifted shot (a textured 192x256 scene: AlignMTB needs texture and size)."""
    pytest.importorskip("cv2")
    from crfkit.io.hdr import read_exr

    imgs, radiance = textured_bracket()
    imgs[0] = np.roll(imgs[0], (3, -4), axis=(0, 1))
    paths = []
    for i, im in enumerate(imgs):
        paths.append(tmp_path / f"s{i}.png")
        write_image(paths[-1], im)
    common = [*paths, "--crf", "srgb", "--times", *TIMES]
    rc, _, err = run(capsys, "merge", *common, "--align", "-o", tmp_path / "al.exr")
    assert rc == 0, err
    rc, _, err = run(capsys, "merge", *common, "-o", tmp_path / "no.exr")
    assert rc == 0, err
    inner = (slice(8, -8), slice(8, -8))
    aligned = relative_errors(read_exr(tmp_path / "al.exr")[inner], radiance[inner])
    shifted = relative_errors(read_exr(tmp_path / "no.exr")[inner], radiance[inner])
    assert np.percentile(aligned, 99) < 0.02 < np.percentile(shifted, 99)


# ----------------------------------------------------------------------------- user mistakes
def _small_pngs(tmp_path, size=(48, 64)):
    paths = []
    for i, v in enumerate((60, 120)):
        p = tmp_path / f"small{i}.png"
        write_image(p, np.full(size + (3,), v, np.uint8))
        paths.append(p)
    return paths


def _saturated_pngs(tmp_path):
    paths = []
    for i in range(2):
        p = tmp_path / f"white{i}.png"
        write_image(p, np.full((16, 16, 3), 255, np.uint8))
        paths.append(p)
    return paths


def _other_size(tmp_path, pngs):
    p = tmp_path / "other.png"
    write_image(p, np.zeros((10, 12, 3), np.uint8))
    return [pngs[0], p]


def _corrupt(tmp_path, pngs):
    p = tmp_path / "corrupt.png"
    p.write_bytes(pngs[0].read_bytes()[:80])
    return [pngs[0], p]


def _empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    return [tmp_path / "empty"]


# (id, inputs(tmp_path, pngs) -> list, extra arguments, message fragments); {tmp} is replaced by tmp_path
CALIBRATE_ERRORS = [
    ("missing file", lambda t, p: [p[0], t / "nope.png"], ["--times", "1", "2"], ["image not found", "nope.png"]),
    ("output suffix", lambda t, p: p, ["--times", *TIMES, "-o", "{tmp}/camera.txt"], ["use a .crfs file name"]),
    ("output folder missing", lambda t, p: p, ["--times", *TIMES, "-o", "{tmp}/no/camera.crfs"], ["does not exist"]),
    ("output is a folder", lambda t, p: p, ["--times", *TIMES, "-o", "{tmp}/dir.crfs"], ["is a folder"]),
    ("plot suffix", lambda t, p: p, ["--times", *TIMES, "--plot", "{tmp}/crf.bmp"], ["plot"]),
    ("plot folder missing", lambda t, p: p, ["--times", *TIMES, "--plot", "{tmp}/no/crf.png"], ["does not exist"]),
    ("too few times", lambda t, p: p, ["--times", "1", "2"], ["got 2 exposure time(s) for 4 image(s)"]),
    ("too many times", lambda t, p: p, ["--times", *TIMES, "16"], ["got 5 exposure time(s) for 4 image(s)"]),
    ("single image", lambda t, p: p[:1], [], ["at least 2 images, got 1"]),
    ("single image with a time", lambda t, p: p[:1], ["--times", "1"], ["at least 2 images, got 1"]),
    ("folder without images", lambda t, p: _empty_folder(t), [], ["holds no images"]),
    ("corrupt image", _corrupt, ["--times", "1", "2"], ["corrupt.png"]),
    ("different sizes", _other_size, ["--times", "1", "2"], ["differ in size"]),
    ("same time twice", lambda t, p: p, ["--times", "1", "2", "2", "8"], ["same exposure 2 is given twice"]),
    ("zero time", lambda t, p: p, ["--times", "0", "2", "4", "8"], ["positive"]),
    ("text time", lambda t, p: p, ["--times", "1/0", "2", "4", "8"], ["not a number"]),
    ("unknown method", lambda t, p: p, ["--times", *TIMES, "--method", "grossberg"], ["unknown bracket method"]),
    ("unknown model", lambda t, p: p, ["--times", *TIMES, "--model", "spline"], ["unknown model 'spline'"]),
    ("basis for a polynomial", lambda t, p: p, ["--times", *TIMES, "--basis", "dorf"],
     ["--basis applies to --model pca, not polynomial"]),
    ("k for debevec", lambda t, p: p, ["--times", *TIMES, "--method", "debevec", "-k", "3"],
     ["--model, -k apply to --method model, not debevec"]),
    ("top rule for debevec", lambda t, p: p, ["--times", *TIMES, "--method", "debevec", "--model", "polynomial",
                                              "--top-rule", "clipping"], ["--top-rule", "apply to --method model"]),
    ("k out of range", lambda t, p: p, ["--times", *TIMES, "-k", "0"], ["-k must be >= 1, got 0"]),
    ("k above the model's range", lambda t, p: p, ["--times", *TIMES, "-k", "99"], ["k for model 'polynomial'"]),
    ("bad sample count", lambda t, p: p, ["--times", *TIMES, "--samples", "1"], ["--samples must be at least 10"]),
    ("negative bootstrap", lambda t, p: p, ["--times", *TIMES, "--bootstrap", "-1"], ["--bootstrap must be", "-1"]),
    ("huge bootstrap", lambda t, p: p, ["--times", *TIMES, "--bootstrap", "5000"], ["--bootstrap must be", "5000"]),
    ("negative seed", lambda t, p: p, ["--times", *TIMES, "--seed", "-3"], ["--seed must be >= 0, got -3"]),
    ("times and unknown times", lambda t, p: p, ["--times", *TIMES, "--unknown-times"],
     ["--times and --unknown-times contradict"]),
    ("times prior with times", lambda t, p: p, ["--times", *TIMES, "--times-prior", "emor"],
     ["--times-prior applies to unknown times"]),
    ("all saturated", lambda t, p: _saturated_pngs(t), ["--times", "1", "2"], ["clipped in every exposure"]),
    ("unknown times prior", lambda t, p: p, ["--unknown-times", "--times-prior", "nope"], ["--times-prior nope:"]),
    # A typo in an option that is not used (the times are known) is still a typo.
    ("unknown times prior, times from a folder", lambda t, p: [p[0].parent], ["--times-prior", "nope"],
     ["--times-prior nope:"]),
    ("clip below the floor", lambda t, p: p, ["--times", *TIMES, "--clip", "0.01"], ["--floor (0.02, the default) must be below --clip (0.01)"]),
    ("clip not a number", lambda t, p: p, ["--times", *TIMES, "--clip", "nan"], ["--clip must be in (0, 1]", "nan"]),
    ("negative floor", lambda t, p: p, ["--times", *TIMES, "--floor", "-0.1"], ["--floor must be in [0, 1)", "-0.1"]),
    ("floor above the clip", lambda t, p: p, ["--times", *TIMES, "--floor", "0.99"], ["--floor (0.99) must be below --clip (0.98, the default)"]),
    ("unknown top rule", lambda t, p: p, ["--times", *TIMES, "--top-rule", "high"],
     ["--top-rule must be straight, clipping or combined", "'high'"]),
]

MERGE_ERRORS = [
    ("missing file", lambda t, p: [p[0], t / "nope.png"], ["-o", "{tmp}/s.exr", "--times", "1", "2"],
     ["image not found"]),
    ("output suffix", lambda t, p: p, ["-o", "{tmp}/scene.png"], ["use a .exr (OpenEXR) or .hdr"]),
    ("output folder missing", lambda t, p: p, ["-o", "{tmp}/no/scene.exr"], ["does not exist"]),
    ("output is a folder", lambda t, p: p, ["-o", "{tmp}/dir.exr"], ["is a folder"]),
    ("too few times", lambda t, p: p, ["-o", "{tmp}/s.exr", "--times", "1"], ["got 1 exposure time(s) for 4"]),
    ("single image", lambda t, p: p[:1], ["-o", "{tmp}/s.exr"], ["at least 2 images, got 1"]),
    ("folder without images", lambda t, p: _empty_folder(t), ["-o", "{tmp}/s.exr"], ["holds no images"]),
    ("corrupt image", _corrupt, ["-o", "{tmp}/s.exr", "--times", "1", "2"], ["corrupt.png"]),
    ("unknown crf", lambda t, p: p, ["-o", "{tmp}/s.exr", "--times", *TIMES, "--crf", "curvy"], ["unknown crf"]),
    ("missing crf file", lambda t, p: p, ["-o", "{tmp}/s.exr", "--times", *TIMES, "--crf", "{tmp}/none.crfs"],
     ["not found"]),
    ("crf and method", lambda t, p: p, ["-o", "{tmp}/s.exr", "--times", *TIMES, "--crf", "srgb", "--method",
                                        "debevec"], ["calibration options"]),
    # --floor only steers a calibration: with --crf it was once ignored without a word.
    ("crf and floor", lambda t, p: p, ["-o", "{tmp}/s.exr", "--times", *TIMES, "--crf", "srgb", "--floor", "0.1"],
     ["calibration options (--floor)"]),
    ("clip out of range", lambda t, p: p, ["-o", "{tmp}/s.exr", "--times", *TIMES, "--crf", "srgb", "--clip", "1.5"],
     ["--clip must be in (0, 1]", "got 1.5"]),
    ("crf and top rule", lambda t, p: p, ["-o", "{tmp}/s.exr", "--times", *TIMES, "--crf", "srgb", "--top-rule",
                                          "clipping"], ["calibration options (--top-rule)"]),
    ("taper above clipping", lambda t, p: p, ["-o", "{tmp}/s.exr", "--times", *TIMES, "--crf", "srgb",
                                              "--highlight-taper", "0.99"], ["--highlight-taper", "0.98", "'0.99'"]),
    ("taper not a number", lambda t, p: p, ["-o", "{tmp}/s.exr", "--times", *TIMES, "--crf", "srgb",
                                            "--highlight-taper", "high"], ["--highlight-taper", "'high'"]),
    ("negative curve error", lambda t, p: p, ["-o", "{tmp}/s.exr", "--times", *TIMES, "--crf", "srgb",
                                              "--curve-error", "-0.1"], ["--curve-error must be a number >= 0", "-0.1"]),
    # Both shape the noise weights only: with other weights they were once ignored without a word.
    ("taper with hat weights", lambda t, p: p, ["-o", "{tmp}/s.exr", "--times", *TIMES, "--crf", "srgb",
                                                "--weighting", "hat", "--highlight-taper", "0.6"],
     ["--highlight-taper applies to --weighting noise, not hat"]),
    ("curve error with uniform weights", lambda t, p: p, ["-o", "{tmp}/s.exr", "--times", *TIMES, "--weighting",
                                                          "uniform", "--curve-error", "0.05"],
     ["--curve-error applies to --weighting noise, not uniform"]),
    ("sample count", lambda t, p: p, ["-o", "{tmp}/s.exr", "--times", *TIMES, "--samples", "5"],
     ["--samples must be at least 10"]),
    ("times and unknown times", lambda t, p: p, ["-o", "{tmp}/s.exr", "--times", *TIMES, "--unknown-times"],
     ["--times and --unknown-times contradict"]),
]


def _args(tmp_path, extra):
    return [a.replace("{tmp}", str(tmp_path)) for a in extra]


@pytest.mark.parametrize("make_inputs, extra, fragments", [c[1:] for c in CALIBRATE_ERRORS],
                         ids=[c[0] for c in CALIBRATE_ERRORS])
def test_calibrate_user_mistakes(capsys, tmp_path, pngs, make_inputs, extra, fragments):
    (tmp_path / "dir.crfs").mkdir()
    out_file = tmp_path / "never.crfs"
    args = ["calibrate", *make_inputs(tmp_path, pngs), *DATA_FREE, "--bootstrap", "0", *_args(tmp_path, extra)]
    if "-o" not in extra:
        args += ["-o", out_file]
    rc, out, err = run(capsys, *args)
    assert_one_line_error(rc, err, "calibrate", *fragments)
    assert not out_file.exists()


@pytest.mark.parametrize("make_inputs, extra, fragments", [c[1:] for c in MERGE_ERRORS],
                         ids=[c[0] for c in MERGE_ERRORS])
def test_merge_user_mistakes(capsys, tmp_path, pngs, make_inputs, extra, fragments):
    (tmp_path / "dir.exr").mkdir()
    # With --crf the calibration options (DATA_FREE) are themselves a mistake: leave them out there.
    base = [] if "--crf" in extra else list(DATA_FREE)
    rc, out, err = run(capsys, "merge", *make_inputs(tmp_path, pngs), *base, *_args(tmp_path, extra))
    assert_one_line_error(rc, err, "merge", *fragments)
    assert not (tmp_path / "s.exr").exists() and not (tmp_path / "s.exr.json").exists()


def test_argparse_mistakes_exit_2(capsys, pngs):
    """Mistakes argparse itself catches (a missing -o, a bad choice) exit with status 2 too."""
    for args in (["merge", *pngs], ["merge", *pngs, "-o", "x.exr", "--weighting", "max"],
                 ["calibrate"], ["calibrate", *pngs, "--samples", "many"]):
        with pytest.raises(SystemExit) as exc:
            main([str(a) for a in args])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and "error:" in err.strip().splitlines()[-1]


def test_times_prior_choice_reaches_the_calibration(capsys, pngs):
    """--times-prior is passed through: modern by default, emor when asked (it once could not be chosen)."""
    used = {}
    for choice in (None, "emor"):
        extra = () if choice is None else ("--times-prior", choice)
        rc, out, err = run(capsys, "calibrate", *pngs, *DATA_FREE, "--bootstrap", "0", "--json", *extra)
        assert rc == 0, err
        used[choice] = json.loads(out)["times_source"]
    assert "Middlebury" in used[None] and "EMoR" not in used[None], used
    assert "EMoR" in used["emor"], used


def test_clip_reaches_the_calibration_and_the_merge(capsys, tmp_path, pngs):
    """--clip sets the calibration's clipping level (and, in merge, the merge's as well)."""
    from crfkit.io.hdr import read_exr

    args = ["calibrate", *pngs, "--times", *TIMES, *DATA_FREE, "--bootstrap", "0", "--json"]
    rc, out, err = run(capsys, *args)
    assert rc == 0, err
    assert json.loads(out)["stats"]["clip"] == crfkit.bracket.samples.CLIP
    rc, out, err = run(capsys, *args, "--clip", "0.9")
    assert rc == 0, err
    assert json.loads(out)["stats"]["clip"] == 0.9
    merged = {}
    for clip in (None, "0.9"):
        exr = tmp_path / f"m{clip}.exr"
        extra = [] if clip is None else ["--clip", clip]
        rc, out, err = run(capsys, "merge", *pngs, "--times", *TIMES, "--crf", "srgb", "-o", exr, *extra)
        assert rc == 0, err
        merged[clip] = read_exr(exr)
    # Codes from 0.9 to 0.98 of full scale no longer count: the merge changes where they occur.
    assert not np.array_equal(merged[None], merged["0.9"])


def test_calibrate_says_when_a_black_level_raised_the_floor(capsys, tmp_path, pngs):
    from test_bracket import _fogged_bracket

    fog, times = _fogged_bracket(n=6)
    paths = []
    for i, img in enumerate(fog):
        paths.append(tmp_path / f"fog{i}.png")
        write_image(paths[-1], img)
    rc, out, err = run(capsys, "calibrate", *paths, "--times", *[str(t) for t in times], *DATA_FREE,
                       "--bootstrap", "0")
    assert rc == 0, err
    assert "noise floor raised to code 0.0" in out
    rc, out, err = run(capsys, "calibrate", *paths, "--times", *[str(t) for t in times], *DATA_FREE,
                       "--bootstrap", "0", "--floor", "0.02")
    assert rc == 0 and "noise floor" not in out, err
    rc, out, err = run(capsys, "calibrate", *paths, "--floor", "2", *DATA_FREE)
    assert rc == 2 and "--floor must be in [0, 1)" in err and "got 2" in err and len(err.strip().splitlines()) <= 2
    rc, out, err = run(capsys, "calibrate", pngs[0].parent, "--times", *TIMES, *DATA_FREE, "--bootstrap", "0")
    assert rc == 0, err
    assert "noise floor" not in out


def test_default_basis_without_dorf_names_the_shipped_basis(capsys, tmp_path, pngs, monkeypatch):
    """Offline and without CRFKIT_DATA, the default calibration (a polynomial) and times prior
    (shipped) need no data; the DoRF PCA basis cannot be learned: one line saying how to point
    crfkit at DoRF, or to use the basis that ships with crfkit (which then works)."""
    monkeypatch.setenv("CRFKIT_DATA", str(tmp_path / "nodata"))
    monkeypatch.setenv("CRFKIT_OFFLINE", "1")
    monkeypatch.setenv("CRFKIT_CACHE", str(tmp_path / "cache"))
    out_file = tmp_path / "cam.crfs"
    for extra in ([], ["--unknown-times"]):
        rc, out, err = run(capsys, "calibrate", *pngs, *(["--times", *TIMES] if not extra else extra),
                           "--bootstrap", "0", "-o", out_file)
        assert rc == 0, err
        assert len(crfkit.load_curves(out_file)) == 3
        out_file.unlink()
    rc, out, err = run(capsys, "calibrate", *pngs, "--times", *TIMES, "--model", "pca", "-o", out_file)
    assert_one_line_error(rc, err, "calibrate", "CRFKIT_DATA", "dorfCurves", "--basis modern")
    assert not out_file.exists()
    rc, out, err = run(capsys, "calibrate", *pngs, "--times", *TIMES, "--basis", "modern", "--bootstrap", "0",
                       "-o", out_file)
    assert rc == 0, err
    assert len(crfkit.load_curves(out_file)) == 3


def test_calibrate_reads_lzw_tiffs(capsys, tmp_path):
    """16-bit TIFFs as OpenCV, Photoshop and Lightroom write them (LZW) are bracket inputs."""
    cv2 = pytest.importorskip("cv2")
    paths = []
    for i, im in enumerate(bracket(times=(1.0, 2.0, 4.0, 8.0))):
        paths.append(tmp_path / f"shot{i}.tif")
        assert cv2.imwrite(str(paths[-1]), np.ascontiguousarray(im[:, :, ::-1]).astype(np.uint16) * 257)
    rc, out, err = run(capsys, "calibrate", *paths, "--times", *TIMES, *DATA_FREE, "--bootstrap", "0", "--json")
    assert rc == 0, err
    assert json.loads(out)["times"] == [1.0, 2.0, 4.0, 8.0]


def test_top_rule_reaches_the_calibration(capsys, tmp_path):
    """--top-rule clipping sets the scale from the saturated pixels: on a camera with a highlight
    shoulder it recovers the curve better than the default straight extrapolation."""
    from test_bracket import SHOULDER_INVERSE, render, scene

    forward = crfkit.Curve(SHOULDER_INVERSE, kind="inverse").as_kind("forward")
    paths = []
    for i, im in enumerate(render(scene(seed=0), forward, times=(1.0, 2.0, 4.0, 8.0))):
        paths.append(tmp_path / f"s{i}.png")
        write_image(paths[-1], im)
    err_of = {}
    for rule in (None, "clipping"):
        out_file = tmp_path / f"{rule}.crfs"
        extra = [] if rule is None else ["--top-rule", rule]
        rc, out, err = run(capsys, "calibrate", *paths, "--times", *TIMES, *DATA_FREE, "--bootstrap", "0",
                           "-o", out_file, *extra)
        assert rc == 0, err
        inverse = crfkit.load_curves(out_file).inverse().values
        err_of[rule] = np.sqrt(np.mean((inverse - SHOULDER_INVERSE) ** 2))
    assert err_of["clipping"] < 0.5 * err_of[None], err_of


def test_times_prior_with_exif_times_warns_that_it_is_unused(capsys, jpegs):
    """Times read from EXIF leave --times-prior unused: said in one warning line, not silently ignored."""
    rc, out, err = run(capsys, "calibrate", *jpegs, *DATA_FREE, "--bootstrap", "0", "--times-prior", "emor")
    assert rc == 0, err
    warning = [line for line in err.splitlines() if "warning" in line]
    assert len(warning) == 1 and "--times-prior is not used" in warning[0] and "exif" in warning[0], err
    assert "exposures (exif)" in out
    # The default (not given) is never mentioned.
    rc, out, err = run(capsys, "calibrate", *jpegs, *DATA_FREE, "--bootstrap", "0")
    assert rc == 0 and "--times-prior" not in err, err


def test_top_rule_choices_are_the_solvers():
    """The CLI's --top-rule choices are exactly the model solver's rules (no copy drifts)."""
    from crfkit.bracket.solvers.model import TOP_RULES
    from crfkit.cli.calibrate import TOP_RULES as CLI_TOP_RULES

    assert set(CLI_TOP_RULES) == set(TOP_RULES)


def test_read_bracket_refuses_times_with_unknown_times(pngs):
    with pytest.raises(crfkit.errors.ValidationError, match="contradict"):
        crfkit.bracket.read_bracket(pngs, times=[1, 2, 4, 8], unknown_times=True)


def test_cli_times_prior_default_is_the_librarys():
    from crfkit.bracket.calibrate import DEFAULT_TIMES_PRIOR
    from crfkit.cli.calibrate import DEFAULT_TIMES_PRIOR as CLI_DEFAULT

    assert CLI_DEFAULT == DEFAULT_TIMES_PRIOR
