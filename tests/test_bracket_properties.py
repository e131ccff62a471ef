"""Property-based tests of every bracket entry point: whatever they are given, they return a
valid result or raise a :class:`crfkit.CrfkitError` (the command line: exit status 0 or 2).

Inputs are drawn wide on purpose: 0-4 images of varying shapes and dtypes (uint8, uint16,
float with NaN or values outside [0, 1]), sizes that differ, times lists with zeros,
negatives, NaN, strings and the wrong length, unknown names and options; besides random
pixels (mostly "moving" brackets), well-formed brackets rendered through a gamma curve
exercise the paths that succeed.  Any other exception is a bug.
"""

import contextlib
import io
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import crfkit
from crfkit import GRID, Curve, CurveSet, CrfkitError
from crfkit.bracket import Bracket, BracketCalibration, BracketSamples, calibrate_bracket, merge_bracket
from crfkit.bracket import read_bracket, sample_bracket
from crfkit.cli import main
from crfkit.io.images import read_image, write_image

#: The profile's example count (conftest: 30 by default, 500 with HYPOTHESIS_PROFILE=thorough); the cheap
#: library entry points get twice as many, the command line (which writes files) that many.
N_EXAMPLES = settings().max_examples
GAMMA_PRIOR = CurveSet(np.stack([Curve.gamma(g).values for g in (1.8, 2.2, 2.6)]), "forward", name="gammas")
CURVE = Curve.gamma(2.2)


# ----------------------------------------------------------------------------- strategies
def pick(draw, good, bad, p_bad=0.12):
    """A value from ``good``, or now and then (probability ``p_bad``) from ``bad``."""
    return draw(st.sampled_from(bad if draw(st.integers(0, 99)) < 100 * p_bad else good))


def smooth_radiance(h, w, seed, peak=0.5, stops=5):
    """A smooth scene: a horizontal ramp over ``stops`` stops, a gentle vertical one, a random tint."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, w)[None, :, None]
    y = np.linspace(0.0, 1.0, h)[:, None, None]
    return peak * 2.0 ** (stops * (x - 1)) * (0.8 + 0.2 * y) * rng.uniform(0.6, 1.0, (1, 1, 3))


@st.composite
def random_images(draw):
    """0-4 arbitrary small arrays: dtype, shape and values anything a caller might pass."""
    n = draw(st.integers(0, 4))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    channels = pick(draw, [3, 3, 3, None], [1, 4, 2])  # None: 2-D (grayscale)
    dtype = pick(draw, [np.uint8, np.uint16, np.float32, np.float64, np.float16], [np.int32, np.bool_, np.complex64])
    dirty = draw(st.integers(0, 5)) == 0
    imgs = []
    for _ in range(n):
        shape = (h, w) if channels is None else (h, w, channels)
        if draw(st.integers(0, 19)) == 0:
            shape = (h + 1,) + shape[1:]  # another size now and then
        if dtype in (np.bool_, np.complex64):
            elements = None
        elif np.issubdtype(dtype, np.integer):
            elements = st.integers(int(np.iinfo(dtype).min), int(np.iinfo(dtype).max))
        elif dirty:
            elements = st.one_of(st.floats(0, 1, width=16), st.sampled_from([np.nan, np.inf, -1.0, 2.0]))
        else:
            elements = st.floats(0, 1, width=16)
        imgs.append(draw(arrays(dtype, shape, elements=elements)))
    return imgs, None


@st.composite
def rendered_brackets(draw):
    """2-4 exposures of a random radiance image through a gamma 2.2 curve: a bracket that can succeed."""
    n = draw(st.integers(2, 4))
    h, w = draw(st.integers(2, 24)), draw(st.integers(2, 24))
    seed = draw(st.integers(0, 2**16))
    ratio = draw(st.sampled_from([1.5, 2.0, 4.0]))
    bits = draw(st.sampled_from([8, 16]))
    as_float = draw(st.booleans())
    radiance = smooth_radiance(h, w, seed, peak=draw(st.sampled_from([0.1, 0.5, 1.0, 3.0])))
    if draw(st.integers(0, 3)) == 0:  # per-pixel texture: edges everywhere
        radiance = radiance * np.random.default_rng(seed).uniform(0.5, 1.0, radiance.shape)
    times = [ratio**i for i in range(n)]
    top = 2**bits - 1
    imgs = []
    for t in times:
        v = np.interp(np.clip(radiance * t, 0, 1), GRID, CURVE.values)
        q = np.round(v * top).astype(np.uint8 if bits == 8 else np.uint16)
        imgs.append(q.astype(np.float64) / top if as_float else q)
    order = draw(st.permutations(range(n)))
    return [imgs[i] for i in order], [times[i] for i in order]


brackets = st.one_of(random_images(), rendered_brackets(), rendered_brackets())

time_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-3, 100),
    st.sampled_from(["1/60", "0.5", "2", "abc", "0", "1/0", "-1", "", "nan", "1e999", "1/" + "9" * 400]),
    st.none(),
)


@st.composite
def times_for(draw, true_times):
    """Mostly correct times or None; now and then arbitrary ones (wrong length, zeros, NaN, strings...)."""
    kind = draw(st.integers(0, 9))
    if kind <= 4 and true_times is not None:
        return list(true_times)
    if kind <= 6:
        return None
    if kind == 7:
        return draw(st.sampled_from(["1 2", 3.0, {"a": 1}, np.array([[1.0, 2.0]])]))
    n = len(true_times) if true_times is not None else draw(st.integers(0, 4))
    size = draw(st.sampled_from([n, n, max(n - 1, 0), n + 1]))
    return draw(st.lists(time_values, min_size=size, max_size=size))


def calibration_options(draw):
    method = pick(draw, ["model", "model", "debevec", "robertson", "mitsunaga-nayar", "mn"], ["nope", 3, None])
    opts = {"method": method, "bootstrap": draw(st.integers(0, 2)), "seed": draw(st.integers(0, 3)),
            "n_samples": pick(draw, [10, 60, 400], [3, "x", -1]), "shared": draw(st.booleans())}
    if method in ("model", "nope"):
        opts["model"] = pick(draw, [None, "polynomial", "gamma", "ggcm"], ["spline", 3])  # None: the default
    if draw(st.integers(0, 3)) == 0:
        opts["k"] = pick(draw, [None, 1, 2, 3], [0, 25, 1.5, "3"], p_bad=0.3) if method != "debevec" else None
    opts["times_prior"] = pick(draw, [GAMMA_PRIOR], [3, "no-such-set", CurveSet(GRID[None] ** 0.5)])
    if draw(st.integers(0, 3)) == 0:
        opts["top_rule"] = pick(draw, ["straight", "clipping", "combined"], ["bogus", 1, None], p_bad=0.2)
    if draw(st.integers(0, 9)) == 0:
        opts.update(draw(st.sampled_from([{"smoothness": "x"}, {"levels": 0}, {"prior": -1}, {"noise": None},
                                          {"max_iter": 0}, {"degree": 2}, {"foo": 1}, {"edge_tol": None},
                                          {"clip_margin": 2}, {"clip": 0.9, "floor": 0.1}, {"clip": "x"}])))
    return opts


def quiet(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call(*args, **kwargs)


def check_calibration(cal, n_images):
    assert isinstance(cal, BracketCalibration)
    v = cal.curves.values
    assert v.shape == (3, GRID.size) and np.all(np.isfinite(v))
    assert v.min() >= 0 and v.max() <= 1
    assert np.all(np.diff(v, axis=1) >= -1e-9), "not monotone"
    assert np.all(np.isfinite(cal.inverse().values))
    t = np.asarray(cal.times)
    assert t.shape == (n_images,) and np.all(np.isfinite(t)) and np.all(t > 0)
    assert cal.rmse.shape == (3,)
    if cal.band is not None:
        assert cal.band.shape == (3, 2, GRID.size) and np.all(np.isfinite(cal.band))


# ----------------------------------------------------------------------------- calibrate_bracket
@settings(max_examples=2 * N_EXAMPLES)
@given(data=st.data(), bracket=brackets)
def test_calibrate_bracket_returns_a_valid_calibration_or_a_crfkit_error(data, bracket):
    imgs, true_times = bracket
    times = data.draw(times_for(true_times))
    opts = calibration_options(data.draw)
    try:
        cal = quiet(calibrate_bracket, imgs, times, **opts)
    except CrfkitError as exc:
        event(type(exc).__name__)
        assert "\n" not in str(exc)
        return
    event("calibrated")
    check_calibration(cal, len(imgs))


# ----------------------------------------------------------------------------- merge_bracket
_FIXED = {}


def fixed_calibration():
    if "cal" not in _FIXED:
        radiance = smooth_radiance(16, 24, 0)
        imgs = [np.round(np.interp(np.clip(radiance * t, 0, 1), GRID, CURVE.values) * 255).astype(np.uint8)
                for t in (1, 2, 4)]
        _FIXED["cal"] = calibrate_bracket(imgs, [1, 2, 4], model="polynomial", bootstrap=0)
    return _FIXED["cal"]


CRFS = ["srgb", "gamma:2.2", "linear", CURVE, CURVE.inverse(),
        CurveSet(np.stack([Curve.gamma(g).values for g in (2.0, 2.2, 2.4)]), "forward"), "calibration",
        None, "nope", 3]


@settings(max_examples=2 * N_EXAMPLES)
@given(data=st.data(), bracket=brackets, crf_index=st.integers(0, len(CRFS) - 1),
       weighting=st.sampled_from(["noise", "hat", "uniform", "noise", "bogus"]), return_info=st.booleans())
def test_merge_bracket_returns_a_float32_hdr_or_a_crfkit_error(data, bracket, crf_index, weighting, return_info):
    imgs, true_times = bracket
    times = data.draw(times_for(true_times))
    crf = CRFS[crf_index]
    kwargs = {}
    if crf == "calibration":
        crf = fixed_calibration()
    elif crf is None:
        kwargs = {"model": "polynomial", "bootstrap": 0, "times_prior": GAMMA_PRIOR}
    if data.draw(st.integers(0, 4)) == 0:
        kwargs.update(data.draw(st.sampled_from([{"clip": 0.5}, {"clip": "x"}, {"code_noise": 0.01},
                                                 {"noise": (1e-3, 0)}, {"noise": "ab"}, {"align": True},
                                                 {"highlight_taper": None}, {"highlight_taper": 0.0},
                                                 {"highlight_taper": 0.9}, {"highlight_taper": 1.5},
                                                 {"highlight_taper": "x"}, {"highlight_taper": float("nan")},
                                                 {"curve_error": 0.05}, {"curve_error": -1}, {"curve_error": "x"},
                                                 {"deghost": True}, {"deghost": 1}, {"deghost": 7},
                                                 {"deghost": -1}, {"deghost": "yes"}, {"deghost": 1.0}])))
    try:
        out = quiet(merge_bracket, imgs, times, crf=crf, weighting=weighting, return_info=return_info, **kwargs)
    except CrfkitError as exc:
        event(type(exc).__name__)
        assert "\n" not in str(exc)
        return
    event("merged")
    hdr, info = out if return_info else (out, None)
    h, w = np.shape(imgs[0])[:2]
    assert isinstance(hdr, np.ndarray) and hdr.dtype == np.float32 and hdr.shape == (h, w, 3)
    assert np.all(np.isfinite(hdr)) and hdr.min() >= 0
    if info is not None:
        assert len(info["times"]) == len(imgs) and 0 <= info["clipped_in_all_share"] <= 1
        d = info.get("exposure_disagreement")  # given a curve: None (nothing to compare) or a gap >= 0
        assert d is None or (np.isfinite(d) and d >= 0), d
        if "deghost" in kwargs:
            assert 0 <= info["ghost_share"] <= 1 and 0 <= info["deghost_reference"] < len(imgs)


# ----------------------------------------------------------------------------- sample_bracket
#: sample_bracket options: (good values, bad values)
SAMPLE_VALUES = {
    "n_samples": ([10, 50, 5000], [0, "x", 2.5]),
    "seed": ([0, 1, 2**63 - 1], [-1, 1.5, "0"]),
    "clip": ([0.98, 0.5, 1.0], [0.0, np.nan, "x"]),
    "floor": ([0.02, 0.0, None], [0.6, -0.1, "x"]),
    "order_tol": ([0.04, 0.0, 1.0], [np.nan, "x"]),
    "edge_tol": ([0.1, None, 0.0, 2.0], [np.nan, "x"]),
    "clip_margin": ([None, 0, 1, 8, 10**6], [-1, 2.5, "8"]),
    "brightness_bins": ([32, 1, 7], [0, 1.5]),
    "regions": ([(4, 4), (1, 1), (50, 50), [2, 3]], [(0, 2), (3,), "ab"]),
    "n_candidates": ([None, 0, 1, 10], [-5, "x"]),
}


@st.composite
def sample_options(draw):
    keys = draw(st.lists(st.sampled_from(sorted(SAMPLE_VALUES)), max_size=4, unique=True))
    return {k: pick(draw, *SAMPLE_VALUES[k], p_bad=0.1) for k in keys}


@settings(max_examples=2 * N_EXAMPLES)
@given(data=st.data(), bracket=brackets, options=sample_options())
def test_sample_bracket_returns_valid_samples_or_a_crfkit_error(data, bracket, options):
    imgs, true_times = bracket
    times = data.draw(times_for(true_times))
    try:
        br = crfkit.bracket.inputs.as_bracket(imgs, times)
        s = quiet(sample_bracket, br if data.draw(st.booleans()) else imgs, **options)
    except CrfkitError as exc:
        event(type(exc).__name__)
        assert "\n" not in str(exc)
        return
    event("sampled")
    assert isinstance(s, BracketSamples)
    p, j = s.n_pixels, s.n_exposures
    h, w = br.shape[:2]
    assert j == len(imgs) and s.z.shape == (p, j, 3) and s.valid.shape == (p, j, 3) and s.valid.dtype == bool
    assert 1 <= p <= options.get("n_samples", 3000)
    assert np.all(np.isfinite(s.z)) and s.z.min() >= 0 and s.z.max() <= 1
    assert sorted(s.order.tolist()) == list(range(j))
    assert s.positions.shape == (p, 2) and s.positions.min() >= 0
    assert np.all(s.positions[:, 0] < h) and np.all(s.positions[:, 1] < w)
    assert s.code_max in (255, 65535)
    if options.get("floor") is None:  # detected: the default, or the black level (below 0.25 + noise)
        assert crfkit.bracket.samples.FLOOR <= s.stats["floor"] <= 0.3
    else:
        assert s.stats["floor"] == options["floor"]


# ----------------------------------------------------------------------------- read_bracket (files)
def _png(rng, shape, dtype=np.uint8):
    top = np.iinfo(dtype).max
    return rng.integers(0, top + 1, size=shape, dtype=np.int64).astype(dtype)


FILE_KINDS = ["png", "png", "png16", "gray", "rgba", "jpg", "jpg-exif", "tif", "bytes", "truncated", "empty",
              "text", "folder"]


def write_file(folder, i, kind, shape, rng, data):
    suffix = data.draw(st.sampled_from([".png", ".jpg", ".tif", ".PNG"])) if kind in ("bytes", "empty", "text") \
        else None
    if kind in ("png", "png16", "gray", "rgba", "truncated"):
        p = folder / f"f{i}.png"
        arr = {"png": lambda: _png(rng, shape + (3,)), "png16": lambda: _png(rng, shape + (3,), np.uint16),
               "gray": lambda: _png(rng, shape), "rgba": lambda: _png(rng, shape + (4,)),
               "truncated": lambda: _png(rng, shape + (3,))}[kind]()
        write_image(p, arr)
        if kind == "truncated":
            raw = p.read_bytes()
            p.write_bytes(raw[: data.draw(st.integers(0, max(len(raw) - 1, 0)))])
        return p
    if kind in ("jpg", "jpg-exif", "tif"):
        from PIL import Image

        p = folder / f"f{i}.{'tif' if kind == 'tif' else 'jpg'}"
        im = Image.fromarray(_png(rng, shape + (3,)))
        if kind == "jpg-exif":
            exif = Image.Exif()
            exif.get_ifd(0x8769)[0x829A] = data.draw(st.sampled_from([0.01, 0.02, 1.0, 0.0, -1.0, 1e9]))
            im.save(p, exif=exif)
        else:
            im.save(p)
        return p
    if kind == "folder":
        p = folder / f"d{i}"
        p.mkdir()
        if data.draw(st.booleans()):
            write_image(p / "a.png", _png(rng, shape + (3,)))
            write_image(p / "b.png", _png(rng, shape + (3,)))
        return p
    p = folder / f"f{i}{suffix}"
    if kind == "bytes":
        p.write_bytes(data.draw(st.binary(max_size=200)))
    elif kind == "empty":
        p.write_bytes(b"")
    else:
        p.write_text("not an image")
    return p


@settings(max_examples=2 * N_EXAMPLES)
@given(data=st.data(), kinds=st.lists(st.sampled_from(FILE_KINDS), max_size=4),
       h=st.integers(1, 12), w=st.integers(1, 12), seed=st.integers(0, 1000))
def test_read_bracket_on_arbitrary_files(data, kinds, h, w, seed):
    rng = np.random.default_rng(seed)
    folder = Path(tempfile.mkdtemp(prefix="crfkit-prop-"))
    try:
        paths = [write_file(folder, i, k, (h, w), rng, data) for i, k in enumerate(kinds)]
        if data.draw(st.integers(0, 5)) == 0:
            paths.append(folder / "missing.png")
        inputs = data.draw(st.sampled_from(["list", "folder", "strings"]))
        inputs = folder if inputs == "folder" else ([str(p) for p in paths] if inputs == "strings" else paths)
        times = data.draw(times_for(None))
        unknown = data.draw(st.booleans())
        try:
            br = quiet(read_bracket, inputs, times=times, unknown_times=unknown)
        except CrfkitError as exc:
            event(type(exc).__name__)
            # (not checked here: the ParseError of crfkit.io.images.read_image quotes imageio's
            # multi-line message; the command line joins it into one line)
            return
        assert isinstance(br, Bracket) and len(br) >= 2 and len(br.names) == len(br)
        assert all(im.dtype in (np.uint8, np.uint16) and im.shape == br.shape and im.shape[2] == 3
                   for im in br.images)
        assert br.times is None or (len(br.times) == len(br) and np.all(np.asarray(br.times) > 0))
        event("read")
        if unknown and times is None:
            assert br.times is None
        # and whatever was read can be calibrated or is refused cleanly
        try:
            cal = quiet(calibrate_bracket, br, model="polynomial", bootstrap=0, n_samples=50,
                        times_prior=GAMMA_PRIOR)
        except CrfkitError:
            return
        check_calibration(cal, len(br))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ----------------------------------------------------------------------------- the command line
@pytest.fixture(scope="module")
def cli_dir(tmp_path_factory):
    """Files the command-line vocabulary refers to."""
    from PIL import Image

    d = tmp_path_factory.mktemp("bracket-cli-props")
    radiance = smooth_radiance(24, 32, 0)
    (d / "b").mkdir()
    (d / "jpg").mkdir()
    (d / "empty").mkdir()
    (d / "dir.crfs").mkdir()
    (d / "dir.exr").mkdir()
    for i, t in enumerate((1, 2, 4)):
        im = np.round(np.interp(np.clip(radiance * t, 0, 1), GRID, CURVE.values) * 255).astype(np.uint8)
        write_image(d / "b" / f"s{i}.png", im)
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0x829A] = t / 100
        Image.fromarray(im).save(d / "jpg" / f"j{i}.jpg", exif=exif, quality=95)
    (d / "corrupt.png").write_bytes((d / "b" / "s0.png").read_bytes()[:50])
    fixed_calibration().save(d / "cam.crfs")
    GAMMA_PRIOR.save(d / "gammas.crfs")
    return d


#: Options users give (each drawn whole: flag and values)...
GOOD_OPTIONS = [
    ["--times", "1", "2", "4"], ["--times", "1/100", "1/50", "1/25"], ["--unknown-times"],
    ["--method", "debevec"], ["--method", "robertson"], ["--method", "mn"],
    ["--model", "polynomial"], ["--model", "polynomial"], ["--model", "gamma"], ["-k", "3"], ["--shared"],
    ["--samples", "50"], ["--times-prior", "{d}/gammas.crfs"], ["--times-prior", "{d}/gammas.crfs"],
    ["--floor", "0.05"], ["--clip", "0.99"], ["--clip", "0.95"], ["--top-rule", "clipping"], ["--top-rule", "straight"],
    ["--top-rule", "Clipping"], ["--seed", "7"],
]
#: ...and their mistakes.
BAD_OPTIONS = [
    ["--times", "1", "2"], ["--times", "1", "1", "4"], ["--times", "0", "x", "-1"], ["--times"],
    ["--method", "nope"], ["--model", "spline"], ["-k", "0"], ["-k", "x"], ["--basis", "nope"],
    ["--samples", "0"], ["--seed", "-1"], ["--times-prior", "nope"], ["--align"], ["--bogus"],
    ["--floor", "2"], ["--floor", "nan"], ["--floor", "-0.1"], ["--floor", "x"],
    ["--clip", "1.5"], ["--clip", "nan"], ["--clip", "0.01"], ["--clip", "x"], ["--top-rule", "high"], ["--top-rule"],
]
CALIBRATE_GOOD = GOOD_OPTIONS + [["-o", "{d}/out.crfs"], ["--plot", "{d}/p.png"], ["--bootstrap", "0"],
                                 ["--bootstrap", "0"], ["--bootstrap", "2"], ["--json"]]
CALIBRATE_BAD = BAD_OPTIONS + [["-o", "{d}/out.txt"], ["-o", "{d}/no/out.crfs"], ["-o", "{d}/dir.crfs"],
                               ["--plot", "{d}/p.xyz"], ["--bootstrap", "-1"], ["--bootstrap", "5000"]]
MERGE_GOOD = GOOD_OPTIONS + [["-o", "{d}/out.exr"], ["-o", "{d}/out.hdr"], ["--crf", "srgb"],
                             ["--crf", "gamma:2.2"], ["--crf", "{d}/cam.crfs"], ["--weighting", "hat"], ["--weighting", "uniform"], ["--half"],
                             ["--highlight-taper", "none"], ["--highlight-taper", "0.7"], ["--curve-error", "0.05"],
                             ["--deghost"], ["--deghost", "s1.png"], ["--deghost", "j0.jpg"],
                             ["--preview", "{d}/view.png"], ["--preview", "{d}/view.jpg"]]
MERGE_BAD = BAD_OPTIONS + [["-o", "{d}/out.png"], ["-o", "{d}/no/out.exr"], ["-o", "{d}/dir.exr"],
                           ["--crf", "nope"], ["--crf", "{d}/missing.crfs"], ["--weighting", "bogus"],
                           ["--highlight-taper", "x"], ["--highlight-taper", "1.2"], ["--curve-error", "nan"],
                           ["--curve-error", "-1"], ["--deghost", "nope.png"], ["--preview", "{d}/view.gif"],
                           ["--preview", "{d}/b"], ["--preview", "{d}/no/view.png"], ["--preview", "{d}/out.exr"]]
GOOD_INPUTS = ["b/s0.png", "b/s1.png", "b/s2.png", "b", "jpg/j0.jpg", "jpg/j1.jpg", "jpg/j2.jpg", "jpg"]
BAD_INPUTS = ["corrupt.png", "missing.png", "empty", "cam.crfs"]


def run_cli(args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(args)
        except SystemExit as exc:  # argparse's own usage errors
            rc = ("argparse", exc.code)
    return rc, out.getvalue(), err.getvalue()


def check_cli(command, rc, err):
    assert "Traceback" not in err
    if isinstance(rc, tuple):
        assert rc == ("argparse", 2), rc
        return
    assert rc in (0, 2), (rc, err)
    if rc == 2:
        lines = err.strip().splitlines()
        assert lines and lines[-1].startswith(f"crfkit {command}: error: "), err
        assert all(ln.startswith(f"crfkit {command}: warning: ") for ln in lines[:-1]), err


@st.composite
def command_lines(draw, command, good, bad, d):
    if draw(st.integers(0, 9)) < 8:  # a bracket: a folder, or two or three of its files in any order
        group = draw(st.sampled_from(["b", "jpg"]))
        files = [f"b/s{i}.png" for i in range(3)] if group == "b" else [f"jpg/j{i}.jpg" for i in range(3)]
        inputs = draw(st.one_of(st.just([group]), st.lists(st.sampled_from(files), min_size=2, max_size=3,
                                                             unique=True)))
    else:  # anything: none, one, repeated, missing, corrupt, not images
        inputs = draw(st.lists(st.sampled_from(GOOD_INPUTS + BAD_INPUTS), max_size=4))
    args = [command] + [str(d / i) for i in inputs]
    if command == "calibrate":
        args += ["--bootstrap", "0"]  # fast; a drawn --bootstrap comes later and wins
    for _ in range(draw(st.integers(0, 4))):
        args += [a.replace("{d}", str(d)) for a in pick(draw, good, bad, p_bad=0.1)]
    if command == "merge" and "-o" not in args and draw(st.integers(0, 9)) > 0:
        args += ["-o", str(d / "out.exr")]
    return args


@settings(max_examples=N_EXAMPLES)
@given(data=st.data())
def test_cli_calibrate_exits_0_or_2(cli_dir, data):
    args = data.draw(command_lines("calibrate", CALIBRATE_GOOD, CALIBRATE_BAD, cli_dir))
    rc, out, err = run_cli(args)
    event(f"rc={rc}")
    check_cli("calibrate", rc, err)


@settings(max_examples=N_EXAMPLES)
@given(data=st.data())
def test_cli_merge_exits_0_or_2(cli_dir, data):
    args = data.draw(command_lines("merge", MERGE_GOOD, MERGE_BAD, cli_dir))
    rc, out, err = run_cli(args)
    event(f"rc={rc}")
    check_cli("merge", rc, err)
    if rc == 0:
        out_path = Path(args[len(args) - args[::-1].index("-o")])  # the last -o wins
        assert out_path.is_file() and Path(str(out_path) + ".json").is_file()
        if "--preview" in args:
            preview = read_image(args[len(args) - args[::-1].index("--preview")])
            assert preview.dtype == np.uint8 and preview.shape[2] == 3
            event("preview written")


@st.composite
def shifted_brackets(draw):
    """2-4 exposures of a textured scene, some nearly black or mostly clipped, each moved by a few pixels."""
    n = draw(st.integers(2, 4))
    h, w = draw(st.integers(16, 72)), draw(st.integers(16, 72))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    radiance = smooth_radiance(h, w, 0) * rng.uniform(0.2, 1.0, (h, w, 1))
    dtype = draw(st.sampled_from([np.uint8, np.uint16]))
    top = np.iinfo(dtype).max
    imgs = []
    for _ in range(n):
        gain = draw(st.sampled_from([0.01, 0.05, 0.3, 1.0, 4.0, 40.0]))  # black .. clipped
        im = np.round(np.clip(radiance * gain, 0, 1) ** (1 / 2.2) * top).astype(dtype)
        imgs.append(np.roll(im, (draw(st.integers(-5, 5)), draw(st.integers(-5, 5))), axis=(0, 1)))
    return imgs


@given(shifted_brackets())
@settings(deadline=None)
def test_align_images_returns_translated_images_of_the_same_shape(imgs):
    """Whatever the brightness of the frames (the median path, the shared-percentile path, or neither),
    alignment returns each image translated (edges replicated), never reshaped or re-valued."""
    pytest.importorskip("cv2")
    from crfkit.bracket.merge import _shift, align_images

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "not aligned" warnings are allowed
        out = align_images(imgs)
    assert len(out) == len(imgs)
    h, w = imgs[0].shape[:2]
    # Each step between neighbours stays within the search range; steps chain to the reference.
    limit = (2 ** int(np.clip(np.floor(np.log2(max(min(h, w) / 16.0, 1.0))), 1, 6))) * (len(imgs) - 1)
    for a, b in zip(out, imgs):
        assert a.shape == b.shape and a.dtype == b.dtype
        assert any(np.array_equal(a, _shift(b, dy, dx)) for dy in range(-limit, limit + 1)
                   for dx in range(-limit, limit + 1))


inverse_curves = st.one_of(
    st.just(np.tile(CURVE.as_kind("inverse").values, (3, 1))),  # the cameras' own curve
    arrays(np.float64, st.sampled_from([(3, 1024), (1, 1024), (3, 10), (1024,)]),
           elements=st.one_of(st.floats(-1, 2), st.sampled_from([np.nan, np.inf]))),
    st.sampled_from([None, "srgb", [1, 2, 3]]),
)


@given(brackets, inverse_curves, st.data())
@settings(deadline=None)
def test_exposure_disagreement_is_a_gap_or_a_crfkit_error(bracket_and_times, inverse, data):
    from crfkit.bracket import exposure_disagreement

    imgs, true_times = bracket_and_times
    times = data.draw(times_for(true_times))
    try:
        value = exposure_disagreement(imgs, inverse, times)
    except CrfkitError:
        event("CrfkitError")
        return
    assert isinstance(value, float) and (np.isnan(value) or value >= 0)


@given(st.one_of(random_images(), rendered_brackets()),
       st.sampled_from([None, None, 0, 1, 3, -1, 9, 1.5, "a", True]))
@settings(deadline=None)
def test_align_images_returns_images_or_a_crfkit_error(bracket_and_times, reference):
    pytest.importorskip("cv2")
    from crfkit.bracket import align_images

    imgs, _ = bracket_and_times
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = align_images(imgs, reference=reference)
        except CrfkitError:
            event("CrfkitError")
            return
    assert len(out) == len(imgs)
    for a, b in zip(out, imgs):
        assert np.shape(a) == np.shape(b) and np.asarray(a).dtype == np.asarray(b).dtype
