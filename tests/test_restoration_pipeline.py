"""The single-image HDR pipeline, the baselines, the evaluation and the `crfkit restore` command (fast)."""

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import crfkit
from crfkit import Curve, CurveSet
from crfkit.curves import GRID
from crfkit.errors import (
    DataNotFoundError,
    NotMonotoneError,
    ParseError,
    UnknownNameError,
    ValidationError,
)
from crfkit.restoration import Restorer, available_restorers, saturation_mask
from crfkit.restoration.baselines import ClipRestorer, HighlightExpansionRestorer
from crfkit.restoration.pipeline import (
    RestorationWarning,
    resolve_inverse_crf,
    restore,
    restore_file,
    restore_with_info,
)


def photo(h=48, w=64, seed=0, bright=1.4):
    """An 8-bit photo with a clipped bright blob (about 10% of the pixels saturated)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    blob = np.exp(-(((y - h / 3) / (h / 6)) ** 2 + ((x - w / 2) / (w / 6)) ** 2))
    base = 0.25 + 0.3 * (x / w)[..., None] * np.array([1.0, 0.8, 0.6]) + bright * blob[..., None]
    base = base + 0.02 * rng.standard_normal((h, w, 3))
    return (np.clip(base, 0, 1) * 255).round().astype(np.uint8)


def dark_photo():
    return (photo() // 2).astype(np.uint8)  # max 127: nothing near saturation


@pytest.fixture
def registered(monkeypatch):
    """Register restorers/estimators for one test only."""
    import crfkit.estimators as est
    import crfkit.restoration as rest

    def add_restorer(name, cls):
        monkeypatch.setitem(rest._REGISTERED, name, cls)

    def add_estimator(name, cls):
        monkeypatch.setitem(est._REGISTERED, name, cls)

    return add_restorer, add_estimator


class Exploding(Restorer):
    """A method that must never run (fast-path checks)."""

    name = "exploding"

    def __init__(self, **options):
        raise AssertionError("the method was instantiated")


class Doubling(Restorer):
    """Stub 'network': twice the linear value inside the mask (stands in for masked-unet)."""

    name = "doubling"

    def restore(self, linear, display, mask_sat):
        return linear * (1.0 + mask_sat)


class Noted(Doubling):
    """Warns when built (like weights that carry an evaluation note)."""

    name = "noted"

    def __init__(self, **options):
        super().__init__(**options)
        warnings.warn("these weights were trained for 10 steps only", UserWarning)


class NoWeights(Restorer):
    name = "no-weights"

    def __init__(self, **options):
        raise DataNotFoundError("no shipped weights for 'no-weights': expected /nowhere/no_weights.pt")


# -- CRF specifications --------------------------------------------------------------------
def test_gamma_srgb_linear_specs():
    g = resolve_inverse_crf("gamma:2.2")
    assert g.kind == "inverse" and np.array_equal(g.values, GRID**2.2)
    assert np.array_equal(resolve_inverse_crf(" Gamma:0.5 ").values, GRID**0.5)
    s = resolve_inverse_crf("srgb")
    assert s.kind == "inverse" and abs(s.values[700] - ((GRID[700] + 0.055) / 1.055) ** 2.4) < 1e-12
    assert np.abs(s.values - Curve.srgb(kind="inverse").values).max() < 2e-3  # matches the numeric inverse
    assert np.array_equal(resolve_inverse_crf("linear").values, GRID)
    for bad in ("gamma:0", "gamma:-1", "gamma:abc", "gamma:nan"):
        with pytest.raises(ValidationError, match="gamma"):
            resolve_inverse_crf(bad)
    with pytest.raises(UnknownNameError, match="gamma:G"):
        resolve_inverse_crf("no-such-thing")
    with pytest.raises(DataNotFoundError, match="missing.crfs"):
        resolve_inverse_crf("missing.crfs")
    with pytest.raises(ValidationError):
        resolve_inverse_crf(2.2)


def test_curve_files_forward_and_inverse(tmp_path):
    inv = Curve(GRID**2.2, "inverse", "g")
    fwd = Curve(GRID ** (1 / 2.2), "forward", "f")
    CurveSet.from_curves([inv]).save(tmp_path / "inv.crfs")
    CurveSet.from_curves([fwd]).save(tmp_path / "fwd.crfs")
    assert np.array_equal(resolve_inverse_crf(tmp_path / "inv.crfs").values, inv.values)
    got = resolve_inverse_crf(str(tmp_path / "fwd.crfs"))
    assert got.kind == "inverse" and np.abs(got.values - inv.values).max() < 5e-3  # numeric inversion
    np.savetxt(tmp_path / "inv.txt", inv.values)
    np.savetxt(tmp_path / "fwd.txt", fwd.values)
    assert np.allclose(resolve_inverse_crf(tmp_path / "inv.txt").values, inv.values)  # .txt: inverse by convention
    assert np.abs(resolve_inverse_crf(f"forward:{tmp_path / 'fwd.txt'}").values - inv.values).max() < 5e-3
    with pytest.warns(RestorationWarning, match="looks like a forward"):
        resolve_inverse_crf(tmp_path / "fwd.txt")
    (tmp_path / "g.json").write_text(json.dumps({"kind": "inverse", "values": list(inv.values)}))
    assert np.allclose(resolve_inverse_crf(tmp_path / "g.json").values, inv.values)
    (tmp_path / "bad.txt").write_text("1 2 3\n")
    with pytest.raises(ParseError):
        resolve_inverse_crf(tmp_path / "bad.txt")
    (tmp_path / "bad.crfs").write_bytes(b"not a zip")
    with pytest.raises(ParseError, match="bad.crfs"):
        resolve_inverse_crf(tmp_path / "bad.crfs")
    with pytest.raises(ValidationError, match="forward"):
        resolve_inverse_crf(f"forward:{tmp_path / 'inv.crfs'}")


def test_curve_objects():
    fwd = Curve.gamma(2.0)
    assert resolve_inverse_crf(fwd).kind == "inverse"
    three = CurveSet.from_curves([Curve(GRID**k, "inverse", f"c{k}") for k in (1.8, 2.0, 2.2)])
    got = resolve_inverse_crf(three)
    assert isinstance(got, CurveSet) and len(got) == 3
    one = resolve_inverse_crf(CurveSet.from_curves([Curve(GRID**2, "inverse", "x")]))
    assert isinstance(one, Curve)
    with pytest.raises(ValidationError, match="1 curve or 3"):
        resolve_inverse_crf(CurveSet.from_curves([Curve(GRID, "inverse", "a"), Curve(GRID, "inverse", "b")]))
    wiggly = GRID.copy()
    wiggly[500:510] = wiggly[500:510][::-1]
    with pytest.raises(NotMonotoneError):
        resolve_inverse_crf(Curve(wiggly, "inverse", "w"))
    # per-channel curves linearise each channel with its own curve
    img = photo()
    out = restore(img, crf=three, method="clip")
    for c, k in enumerate((1.8, 2.0, 2.2)):
        assert np.allclose(out[..., c], (img[..., c] / 255.0) ** k, atol=1e-6)


def test_estimator_name_via_registered_stub(registered):
    from crfkit.estimators import Estimator

    calls = []

    class StubEstimator(Estimator):
        name = "stub-gamma"

        def estimate_inverse(self, image):
            calls.append(image.shape)
            return Curve(GRID**1.7, "inverse", "stub")

    registered[1]("stub-gamma", StubEstimator)
    img = photo()
    g = resolve_inverse_crf("stub-gamma", img)
    assert np.array_equal(g.values, GRID**1.7) and calls == [(48, 64, 3)]
    with pytest.raises(ValidationError, match="needs the image"):
        resolve_inverse_crf("stub-gamma")
    out, info = restore_with_info(img, crf="stub-gamma", method="clip")
    assert info["crf"] == "stub" and np.allclose(out, (img / 255.0) ** 1.7, atol=1e-6)


# -- restore on arrays -----------------------------------------------------------------------
def test_no_saturation_fast_path_returns_the_linearisation_exactly(registered):
    registered[0]("exploding", Exploding)
    g = resolve_inverse_crf("gamma:2.2")
    for img in (dark_photo(), dark_photo().astype(np.uint16) * 257, dark_photo().astype(np.float32) / 255):
        out, info = restore_with_info(img, crf="gamma:2.2", method="exploding")
        assert info["fast_path"] and info["saturated_fraction"] == 0.0
        expect = crfkit.linearize(img, g)
        assert out.dtype == np.float32 and out.shape == img.shape and np.array_equal(out, expect)
    with pytest.raises(UnknownNameError, match="unknown restoration method"):
        restore(dark_photo(), method="no-such-method")  # names are still checked on the fast path


def test_dtypes_gray_alpha_and_input_untouched():
    img8 = photo()
    keep = img8.copy()
    out8 = restore(img8, method="clip")
    assert np.array_equal(img8, keep)
    out16 = restore(img8.astype(np.uint16) * 257, method="clip")
    outf = restore(img8.astype(np.float64) / 255, method="clip")
    f32 = img8.astype(np.float32) / 255
    keep32 = f32.copy()
    restore(f32, method="highlight-expansion")
    assert np.array_equal(f32, keep32)
    assert out8.dtype == out16.dtype == outf.dtype == np.float32
    assert np.allclose(out8, out16, atol=1e-6) and np.allclose(out8, outf, atol=1e-6)
    with pytest.warns(RestorationWarning, match="grayscale"):
        gray = restore(img8[..., 1], method="highlight-expansion")
    assert gray.shape == (48, 64, 3) and np.array_equal(gray[..., 0], gray[..., 2])
    rgba = np.concatenate([img8, np.full(img8.shape[:2] + (1,), 7, np.uint8)], axis=2)
    with pytest.warns(RestorationWarning, match="alpha"):
        out_rgba = restore(rgba, method="clip")
    assert np.array_equal(out_rgba, out8)
    with pytest.raises(ValidationError, match="dtype"):
        restore(img8.astype(np.int32), method="clip")
    with pytest.raises(ValidationError, match="shape"):
        restore(np.zeros((4, 4, 5), np.uint8), method="clip")
    with pytest.raises(ValidationError, match="NaN"):
        restore(np.full((8, 8, 3), np.nan, np.float32), method="clip")
    with pytest.raises(ValidationError, match="tau"):
        restore(img8, method="clip", tau=1.0)


def test_already_linear_input_is_refused_and_left_alone():
    hdr = np.random.default_rng(0).gamma(1.0, 0.8, (32, 32, 3)).astype(np.float32)
    hdr[0, 0] = 12.0
    keep = hdr.copy()
    with pytest.raises(ValidationError, match="linear or HDR"):
        restore(hdr, method="clip")
    assert np.array_equal(hdr, keep)


def test_method_contract_is_enforced(registered):
    class Wrong(Restorer):
        name = "wrong"

        def restore(self, linear, display, mask_sat):
            return linear[:-1]

    class Sloppy(Restorer):
        """Changes pixels outside the mask too."""

        name = "sloppy"

        def restore(self, linear, display, mask_sat):
            return (linear * 3).astype(np.float64)

    registered[0]("wrong", Wrong)
    registered[0]("sloppy", Sloppy)
    img = photo()
    with pytest.raises(ValidationError, match="returned shape"):
        restore(img, method="wrong")
    out = restore(img, method="sloppy")
    lin = restore(img, method="clip")
    m = saturation_mask(img / np.float32(255.0))
    assert out.dtype == np.float32
    assert np.array_equal(out[m == 0], lin[m == 0]) and np.allclose(out[m > 0], 3 * lin[m > 0])
    # a Restorer instance is reused as is
    inst = Doubling()
    assert np.allclose(restore(img, method=inst)[m > 0], (lin * (1 + m))[m > 0])
    with pytest.raises(ValidationError, match="instance"):
        restore(img, method=inst, gain=2)


# -- baselines -------------------------------------------------------------------------------
def test_clip_baseline_is_the_linearisation():
    img = photo()
    lin = crfkit.linearize(img, resolve_inverse_crf("gamma:2.2"))
    assert np.array_equal(restore(img, method="clip"), lin)
    with pytest.raises(ValidationError, match="no options"):
        ClipRestorer(gain=2)


def test_highlight_expansion_boosts_only_inside_the_mask():
    from scipy import ndimage

    img = photo(192, 256, bright=3.0)
    lin = restore(img, method="clip")
    m = saturation_mask(img / np.float32(255.0))
    out = restore(img, method="highlight-expansion")
    assert np.array_equal(out[m == 0], lin[m == 0])
    assert np.all(out[m > 0] >= lin[m > 0]) and out.max() > 1.5 * lin.max()
    assert np.all(out <= 4.0 * lin + 1e-6)  # default gain 4 bounds the boost
    stronger = restore(img, method="highlight-expansion", gain=16)
    assert stronger.max() > out.max()
    # the boost starts small on the region's border and grows inside (no step at the border)
    inside = m.max(2) > 0
    border = inside & ~ndimage.binary_erosion(inside)
    ratio = out[..., 1] / lin[..., 1]
    assert np.percentile(ratio[border], 90) < 1.5 and ratio[border].max() < 2.0 and ratio[inside].max() > 3.0
    r = HighlightExpansionRestorer()
    ramp = r.expand_map(m)
    assert ramp.dtype == np.float32 and ramp.min() >= 0 and ramp.max() < 1 and np.all(ramp[m.max(2) == 0] == 0)
    for bad in ({"gain": 0.5}, {"scale": 0}, {"smooth": -1}, {"gain": "x"}):
        with pytest.raises(ValidationError):
            HighlightExpansionRestorer(**bad)
    with pytest.raises(TypeError):
        HighlightExpansionRestorer(unknown=1)


# -- files -----------------------------------------------------------------------------------
@pytest.fixture
def photo_file(tmp_path):
    import imageio.v3 as iio

    p = tmp_path / "photo.png"
    iio.imwrite(p, photo())
    return p


def test_restore_file_writes_exr_and_hdr(photo_file, tmp_path):
    pytest.importorskip("OpenEXR")
    from crfkit.io.hdr import read_hdr

    info = restore_file(photo_file, tmp_path / "out.exr", method="highlight-expansion")
    expect = restore(photo(), method="highlight-expansion")
    assert np.array_equal(read_hdr(tmp_path / "out.exr"), expect)
    assert info["shape"] == (48, 64) and 0 < info["saturated_fraction"] < 0.5 and not info["fast_path"]
    pytest.importorskip("cv2")
    restore_file(photo_file, tmp_path / "out.hdr", method="highlight-expansion")
    back = read_hdr(tmp_path / "out.hdr")
    assert np.allclose(back, expect, rtol=0.02, atol=1e-3)  # RGBE: 8-bit mantissas
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporaries left


def test_restore_file_bad_inputs_write_nothing(photo_file, tmp_path):
    with pytest.raises(ValidationError, match=r"\.exr"):
        restore_file(photo_file, tmp_path / "out.png", method="clip")
    with pytest.raises(ValidationError, match="does not exist"):
        restore_file(photo_file, tmp_path / "nofolder" / "out.exr", method="clip")
    with pytest.raises(DataNotFoundError):
        restore_file(tmp_path / "missing.png", tmp_path / "out.exr", method="clip")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ParseError, match="corrupt.png"):
        restore_file(tmp_path / "corrupt.png", tmp_path / "out.exr", method="clip")
    (tmp_path / "in.exr").write_bytes(b"whatever")
    with pytest.raises(ValidationError, match="already an HDR"):
        restore_file(tmp_path / "in.exr", tmp_path / "out.exr", method="clip")
    assert not (tmp_path / "out.exr").exists() and not (tmp_path / "out.png").exists()


class _FailingCv2:
    """Stands in for OpenCV: writes half a file, then fails (a crash during the write)."""

    @staticmethod
    def imwrite(path, img):
        Path(path).write_bytes(b"#?RADIANCE\npartial")
        raise RuntimeError("disk full")


class _FailingExrFile:
    def __init__(self, header, channels):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def write(self, path):
        Path(path).write_bytes(b"v/1\x01partial")
        raise OSError("disk full")


def test_failing_writer_leaves_no_file_and_keeps_an_existing_output(photo_file, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", _FailingCv2)
    with pytest.raises(RuntimeError, match="disk full"):
        restore_file(photo_file, tmp_path / "new.hdr", method="clip")
    assert not (tmp_path / "new.hdr").exists()
    (tmp_path / "old.hdr").write_bytes(b"previous result")
    with pytest.raises(RuntimeError):
        restore_file(photo_file, tmp_path / "old.hdr", method="clip")
    assert (tmp_path / "old.hdr").read_bytes() == b"previous result"
    openexr = pytest.importorskip("OpenEXR")
    monkeypatch.setattr(openexr, "File", _FailingExrFile)
    (tmp_path / "old.exr").write_bytes(b"previous exr")
    with pytest.raises(OSError, match="disk full"):
        restore_file(photo_file, tmp_path / "old.exr", method="clip")
    assert (tmp_path / "old.exr").read_bytes() == b"previous exr"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.exr", "old.hdr", "photo.png"]


# -- registry --------------------------------------------------------------------------------
def test_third_party_restorer_found_by_packaging_alone(tmp_path, monkeypatch):
    (tmp_path / "brightcam_rest.py").write_text(textwrap.dedent("""
        from crfkit.restoration import Restorer

        class Bright(Restorer):
            name = "brightcam"
            def restore(self, linear, display, mask_sat):
                return linear + 5.0 * mask_sat
    """))
    dist = tmp_path / "brightcam-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: brightcam\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[crfkit.restoration]\nbrightcam = brightcam_rest:Bright\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "brightcam" in available_restorers()
    img = photo()
    out = crfkit.restore(img, crf="gamma:2.2", method="brightcam")
    m = saturation_mask(img / np.float32(255.0))
    assert np.allclose(out, restore(img, method="clip") + 5.0 * m)
    monkeypatch.delitem(sys.modules, "brightcam_rest", raising=False)


# -- evaluation ------------------------------------------------------------------------------
def test_metrics_known_answers():
    from crfkit.restoration.evaluation import fit_scale, log_l1, mu_law, mu_psnr, saturated_region

    gt = np.zeros((4, 4, 3))
    assert log_l1(np.full((4, 4, 3), np.e - 1), gt) == pytest.approx(1.0)
    region = np.zeros((4, 4), bool)
    region[0, 0] = True
    pred = np.zeros((4, 4, 3))
    pred[0, 0] = np.e**2 - 1
    assert log_l1(pred, gt, region) == pytest.approx(2.0)
    assert log_l1(pred, gt) == pytest.approx(2.0 / 16)
    assert np.isnan(log_l1(pred, gt, np.zeros((4, 4), bool)))
    assert mu_law(1.0) == pytest.approx(1.0) and mu_law(0.0) == 0.0 and mu_law(-1.0) == 0.0
    g = np.full((4, 4, 3), 1.0)
    assert mu_psnr(g, g) == float("inf")
    # mu-law values 1 and 0.9: MSE 0.01 -> 20 dB
    x = (np.power(501.0, 0.9) - 1) / 500.0
    assert mu_psnr(np.full((4, 4, 3), x), g, norm=1.0) == pytest.approx(20.0)
    rng = np.random.default_rng(0)
    lin = rng.uniform(0.01, 0.9, (16, 16, 3))
    gt_hdr = lin / 3.7
    gt_hdr[0, 0] = 50.0  # a saturated pixel must not pull the fit
    valid = np.ones((16, 16), bool)
    valid[0, 0] = False
    assert fit_scale(lin, gt_hdr, valid) == pytest.approx(3.7)
    disp = np.full((2, 2, 3), 0.5, np.float32)
    disp[1, 1, 2] = 0.96
    assert saturated_region(disp).tolist() == [[False, False], [False, True]]


def _write_crops(folder, n=2, gt_scale=3.0):
    """Synthetic crops: HDR with a bright blob, its gamma-2 8-bit LDR; GT stored at another scale."""
    import imageio.v3 as iio

    from crfkit.io.hdr import write_exr

    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:64, 0:64]
    for i in range(n):
        blob = 6.0 * np.exp(-(((y - 20 - 8 * i) / 8.0) ** 2 + ((x - 30) / 10.0) ** 2))
        hdr = (0.05 + 0.5 * (x / 64.0))[..., None] * np.array([1.0, 0.9, 0.8]) + blob[..., None]
        ldr = np.round(np.clip(hdr, 0, 1) ** 0.5 * 255).astype(np.uint8)
        iio.imwrite(folder / f"{i:04d}.png", ldr)
        write_exr(folder / f"{i:04d}.exr", (hdr * gt_scale).astype(np.float32))
    (folder / "unpaired.png").write_bytes(b"")  # no .exr beside it: ignored


def test_evaluation_on_synthetic_crops(tmp_path, registered):
    pytest.importorskip("OpenEXR")
    from crfkit.restoration.evaluation import find_crops, run_evaluation

    registered[0]("doubling", Doubling)
    registered[0]("no-weights", NoWeights)
    registered[0]("noted", Noted)
    _write_crops(tmp_path / "santos2020_hdr_crops")
    assert [p[0] for p in find_crops(tmp_path)] == ["0000", "0001"]  # a data root with the sub-folder
    figs = tmp_path / "figs" if crfkit._optional.available("matplotlib") else None
    res = run_evaluation(tmp_path / "santos2020_hdr_crops", methods=["clip", "highlight-expansion", "doubling",
                         "no-weights"], figures=figs)
    assert res.methods == ["clip", "highlight-expansion", "doubling"]
    assert "no-weights" in res.skipped and "no shipped weights" in res.skipped["no-weights"]
    for ci in res.crop_info:
        assert ci["scale"] == pytest.approx(1 / 3.0, rel=0.02)  # the GT was stored 3x brighter
        assert 0 < ci["saturated_fraction"] < 0.3 and ci["fitted_exponent"] == pytest.approx(2.0, abs=0.1)
    # the true highlights are far above 1: any boost helps inside, clipping is worst
    for name in ("highlight-expansion", "doubling"):
        assert res.mean(name, "log_l1_sat") < res.mean("clip", "log_l1_sat")
        assert res.wins(name, "clip", "psnr_sat") == 2
    assert res.mean("clip", "log_l1_all") < res.mean("clip", "log_l1_sat")
    md = res.to_markdown()
    assert "| doubling |" in md and "no-weights skipped" in md and "doubling vs clip" in md
    # doubling beats clip on both crops, so the whole bootstrap interval of the log-L1 difference is below 0
    line = next(x for x in md.splitlines() if x.startswith("- doubling vs clip"))
    lo, hi = (float(v) for v in line.split("interval over crops ")[1].split(")")[0].split(" .. "))
    assert lo <= hi < 0
    rows = res.to_csv().splitlines()
    assert rows[0].startswith("crop,method,saturated_fraction,log_l1_sat") and len(rows) == 1 + 3 * 3
    d = json.loads(json.dumps(res.to_dict()))
    assert d["crops"] == ["0000", "0001"] and d["skipped"].keys() == {"no-weights"}
    if figs is not None:
        assert sorted(p.name for p in figs.iterdir()) == ["0000.png", "0001.png"]
    noted = run_evaluation(tmp_path, methods=["noted"])
    assert noted.info["warnings"] == ["noted: these weights were trained for 10 steps only"]
    assert "warning from noted: these weights" in noted.to_markdown()
    with pytest.raises(UnknownNameError):
        run_evaluation(tmp_path, methods=["clip", "typo"])
    with pytest.raises(DataNotFoundError, match="no NAME.png"):
        run_evaluation(tmp_path / "figs" if figs else tmp_path, methods=["clip"])
    with pytest.raises(DataNotFoundError, match="no restoration method could run"):
        run_evaluation(tmp_path, methods=["no-weights"])


def test_find_crops_through_crfkit_data(tmp_path, monkeypatch):
    from crfkit.restoration.evaluation import find_crops

    monkeypatch.delenv("CRFKIT_DATA", raising=False)
    with pytest.raises(DataNotFoundError, match="CRFKIT_DATA"):
        find_crops()
    monkeypatch.setenv("CRFKIT_DATA", str(tmp_path))
    with pytest.raises(DataNotFoundError, match="santos2020_hdr_crops"):
        find_crops()
    d = tmp_path / "santos2020_hdr_crops"
    d.mkdir()
    (d / "a.png").write_bytes(b"")
    (d / "a.exr").write_bytes(b"")
    assert [p[0] for p in find_crops()] == ["a"]


def santos_dir():
    """$CRFKIT_DATA/santos2020_hdr_crops: skip when CRFKIT_DATA is unset, fail when set but missing.

    (The crops are not files of crfkit's data registry, so ``find_data_file``
    cannot gate them; this mirrors ``@pytest.mark.realdata``'s rule.)
    """
    env = os.environ.get("CRFKIT_DATA")
    if not env:
        pytest.skip("real-data test: set CRFKIT_DATA to the data folder to run it")
    p = Path(env) / "santos2020_hdr_crops"
    if not (p / "0007.exr").is_file():
        pytest.fail(f"CRFKIT_DATA={env!r} is set but {p} lacks the Santos et al. crops", pytrace=False)
    return p


def test_real_santos_crops_baselines():
    pytest.importorskip("OpenEXR")
    from crfkit.restoration.evaluation import run_evaluation

    res = run_evaluation(santos_dir(), methods=["clip", "highlight-expansion"])
    assert res.crops == [f"000{k}" for k in range(1, 8)]
    fr = [ci["saturated_fraction"] for ci in res.crop_info]
    assert all(0.03 < f < 0.5 for f in fr)  # PROVENANCE: large saturated regions in every crop
    assert res.crop_info[6]["gt_max"] > 1000  # crop 7 holds a very bright source (GT max 37152 before scaling)
    for m in res.methods:
        for k in ("log_l1_sat", "psnr_sat", "log_l1_all", "psnr_all"):
            assert np.all(np.isfinite(res.scores[m][k]))


# -- command line ----------------------------------------------------------------------------
def run_cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "crfkit", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=timeout)


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for frag in fragments:
        assert frag in err, err


def test_cli_restore_and_bad_inputs(photo_file, tmp_path):
    pytest.importorskip("OpenEXR")
    out = tmp_path / "photo.exr"
    proc = run_cli("restore", str(photo_file), "-o", str(out), "--method", "clip", "--crf", "gamma:2.2")
    assert proc.returncode == 0, proc.stderr
    line = proc.stderr.strip()
    assert len(line.splitlines()) == 1 and "64x48" in line and "% saturated" in line and "method clip" in line
    from crfkit.io.hdr import read_hdr

    assert np.array_equal(read_hdr(out), restore(photo(), method="clip"))
    assert_one_line_error(run_cli("restore", str(tmp_path / "missing.jpg"), "-o", str(out), "--method", "clip"),
                          "missing.jpg", "not found")
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff garbage")
    assert_one_line_error(run_cli("restore", str(tmp_path / "corrupt.jpg"), "-o", str(tmp_path / "c.exr"),
                                  "--method", "clip"), "corrupt.jpg")
    assert_one_line_error(run_cli("restore", str(photo_file), "-o", str(tmp_path / "x.png"), "--method", "clip"),
                          "x.png", ".exr")
    assert_one_line_error(run_cli("restore", str(photo_file), "-o", str(tmp_path / "y.exr"), "--crf", "gamma:-2",
                                  "--method", "clip"), "gamma")
    assert_one_line_error(run_cli("restore", str(photo_file), "-o", str(tmp_path / "y.exr"), "--method", "nope"),
                          "unknown restoration method")
    assert_one_line_error(run_cli("restore", str(out), "-o", str(tmp_path / "z.exr"), "--method", "clip"),
                          "already an HDR")
    assert not any((tmp_path / n).exists() for n in ("c.exr", "x.png", "y.exr", "z.exr"))


def test_cli_evaluate_restoration(tmp_path):
    pytest.importorskip("OpenEXR")
    _write_crops(tmp_path / "crops")
    md = tmp_path / "res.md"
    proc = run_cli("evaluate-restoration", "-o", str(md), "--data", str(tmp_path / "crops"),
                   "--methods", "clip,highlight-expansion")
    assert proc.returncode == 0, proc.stderr
    text = md.read_text()
    assert "| highlight-expansion |" in text and "inverse CRF gamma:2" in text
    assert md.with_suffix(".csv").is_file() and json.loads(md.with_suffix(".json").read_text())["crops"]
    assert_one_line_error(run_cli("evaluate-restoration", "--data", str(tmp_path / "none")), "not found")
    assert_one_line_error(run_cli("evaluate-restoration", "-o", str(tmp_path / "r.txt"), "--data",
                                  str(tmp_path / "crops")), ".md")


# -- memory and the network method -------------------------------------------------------------
def test_pipeline_holds_no_needless_full_size_copies():
    """Peak memory: display, linear and mask (float32) plus small bool temporaries; no float64 images."""
    import tracemalloc

    img = np.tile(photo(100, 150), (4, 4, 1))  # 400x600, about 10% saturated
    one = img.size * 4  # bytes of one float32 (H, W, 3) array
    restore(img, method="clip")  # warm caches (LUTs, imports) outside the measurement
    for method, limit in (("clip", 4.5), ("highlight-expansion", 6.5)):
        tracemalloc.start()
        try:
            restore(img, method=method)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < limit * one, (method, peak / one)


def test_masked_unet_through_the_pipeline_with_an_untrained_model():
    """The network method plugs into the pipeline (tiled on an image larger than a tile); weights not needed."""
    pytest.importorskip("torch")
    mu = pytest.importorskip("crfkit.restoration.masked_unet")
    img = photo(100, 140, bright=2.0)  # two 128-pixel tiles side by side
    model = mu.build_model({"width": 0.125})
    out, info = restore_with_info(img, method="masked-unet", model=model, device="cpu", tile=128, overlap=16)
    lin = restore(img, method="clip")
    m = saturation_mask(img / np.float32(255.0))
    assert out.shape == (100, 140, 3) and out.dtype == np.float32 and np.isfinite(out).all()
    assert info["method"] == "masked-unet" and not info["fast_path"]
    assert np.array_equal(out[m == 0], lin[m == 0])


def test_restore_file_16_bit_tiff(tmp_path):
    pytest.importorskip("OpenEXR")
    import imageio.v3 as iio

    from crfkit.io.hdr import read_hdr

    img16 = np.clip(photo().astype(np.int32) * 257 + 100, 0, 65535).astype(np.uint16)  # not 8-bit in disguise
    iio.imwrite(tmp_path / "p16.tif", img16)
    restore_file(tmp_path / "p16.tif", tmp_path / "p16.exr", method="clip")
    assert np.array_equal(read_hdr(tmp_path / "p16.exr"), restore(img16, method="clip"))
