"""Estimator and restorer options are checked up front, always (issue 12, defect 8), and the batch,
thread and progress behaviour of the Python entry points (issue 13)."""

import numpy as np
import pytest

import crfkit
from crfkit.errors import CrfkitError, UnknownNameError, ValidationError
from crfkit.estimators import Estimator, get_estimator
from crfkit.restoration import Restorer, get_restorer
from crfkit.restoration.pipeline import restore_with_info


def photo(h=48, w=64, seed=0, bright=1.4):
    """8-bit photo with a clipped blob (about 10% of the pixels saturated)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    blob = np.exp(-(((y - h / 3) / (h / 6)) ** 2 + ((x - w / 2) / (w / 6)) ** 2))
    base = 0.25 + 0.3 * (x / w)[..., None] * np.array([1.0, 0.8, 0.6]) + bright * blob[..., None]
    return (np.clip(base + 0.02 * rng.standard_normal((h, w, 3)), 0, 1) * 255).round().astype(np.uint8)


def dark_photo():
    return (photo() // 2).astype(np.uint8)  # nothing near saturation: the method never runs


@pytest.fixture
def registered(monkeypatch):
    import crfkit.estimators as est
    import crfkit.restoration as rest

    def add(kind, name, cls):
        monkeypatch.setitem((est if kind == "estimator" else rest)._REGISTERED, name, cls)

    return add


def one_line(exc):
    text = str(exc.value)
    assert text and "\n" not in text, text
    return text


# -- estimators ---------------------------------------------------------------------------------
@pytest.mark.torch
@pytest.mark.parametrize("method", ["crf-net", "linearization-net"])
def test_unknown_estimator_option_lists_the_valid_ones(method):
    pytest.importorskip("torch")
    with pytest.raises(UnknownNameError) as exc:
        crfkit.estimate(photo(), method=method, bogus=1)
    text = one_line(exc)
    assert "bogus" in text and "device" in text and "weights" in text


@pytest.mark.torch
@pytest.mark.parametrize(
    "method, options, match",
    [
        ("crf-net", {"threads": -1}, "threads=-1"),
        ("crf-net", {"threads": 0}, "threads=0"),
        ("crf-net", {"threads": "2"}, "threads='2'"),
        ("crf-net", {"threads": 10**9}, "threads=1000000000"),  # used to abort the process in libgomp
        ("crf-net", {"n_patches": 0}, "n_patches=0"),
        ("crf-net", {"n_patches": 2.5}, "n_patches=2.5"),
        ("crf-net", {"min_patches": -1}, "min_patches=-1"),
        ("crf-net", {"min_patches": 40, "n_patches": 32}, "min_patches=40"),
        ("crf-net", {"coverage": -5}, "coverage=-5"),
        ("crf-net", {"short_side": 0}, "short_side=0"),
        ("crf-net", {"short_side": 64}, "short_side=64"),  # below the patch size of the weights
        ("crf-net", {"device": "foo"}, "unknown device 'foo'"),
        ("crf-net", {"device": 3}, "device=3"),
        ("crf-net", {"weights": 5}, "weights=5"),
        ("linearization-net", {"short_side": 0}, "short_side=0"),
        ("linearization-net", {"short_side": "x"}, "short_side='x'"),
        ("linearization-net", {"device": "mps:7"}, "mps"),
    ],
)
def test_bad_estimator_option_values(method, options, match):
    pytest.importorskip("torch")
    with pytest.raises(ValidationError, match=match) as exc:
        crfkit.estimate(photo(), method=method, **options)
    assert options and method.split("-")[0] in one_line(exc) or "threads" in str(exc.value)


@pytest.mark.torch
def test_unavailable_cuda_is_a_validation_error():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    for call in (lambda: crfkit.estimate(photo(), method="linearization-net", device="cuda"),
                 lambda: get_estimator("crf-net", device="cuda:0"),
                 lambda: crfkit.restore(dark_photo(), method="masked-unet", device="cuda")):
        with pytest.raises(ValidationError, match="not available") as exc:
            call()
        assert "device='cpu'" in one_line(exc)


@pytest.mark.torch
def test_estimator_options_are_checked_before_the_weights_are_read(tmp_path):
    pytest.importorskip("torch")
    from crfkit.estimators import get_estimator_class

    missing = tmp_path / "missing.pt"
    with pytest.raises(ValidationError, match="n_patches"):
        get_estimator("crf-net", weights=missing, n_patches=0)  # not DataNotFoundError for the weights
    cls = get_estimator_class("crf-net")
    checked = cls.check_options(device="cpu", threads=1, n_patches=4, min_patches=2)
    assert str(checked["device"]) == "cpu" and checked["n_patches"] == 4
    with pytest.raises(UnknownNameError, match="valid options"):
        cls.check_options(tile=128)


def test_estimate_refuses_options_with_an_instance_and_bad_entry_arguments(registered):
    class Flat(Estimator):
        name = "flat"
        min_size = 4

        def estimate_inverse(self, image):
            return crfkit.Curve(crfkit.GRID, kind="inverse", name="flat")

    registered("estimator", "flat", Flat)
    with pytest.raises(UnknownNameError, match="flat: unknown option bogus; valid options: none"):
        crfkit.estimate(photo(), method="flat", bogus=1)
    with pytest.raises(ValidationError, match="instance"):
        crfkit.estimate(photo(), method=Flat(), device="cpu")
    with pytest.raises(UnknownNameError, match="by name"):
        crfkit.estimate(photo(), method=None)
    with pytest.raises(ValidationError, match="threads"):
        crfkit.estimate(photo(), method="flat", threads=0)
    with pytest.raises(ValidationError, match="progress"):
        crfkit.estimate(photo(), method="flat", progress="yes")


def test_estimate_batch_builds_the_estimator_once_and_runs_in_the_thread_policy(registered, capsys):
    from crfkit._threads import active_threads

    built, seen = [], []

    class Counting(Estimator):
        name = "counting"
        min_size = 4

        def __init__(self):
            built.append(1)

        def estimate_inverse(self, image):
            seen.append(active_threads())
            return crfkit.Curve(crfkit.GRID ** 2, kind="inverse", name="counting")

    registered("estimator", "counting", Counting)
    images = [photo(seed=s) for s in range(3)]
    curves = crfkit.estimate(images, method="counting", threads=1)
    assert len(curves) == 3 and all(c.kind == "inverse" for c in curves)
    assert built == [1] and seen == [1, 1, 1]
    assert "counting" not in capsys.readouterr().err  # no progress bar unless asked
    crfkit.estimate(tuple(images), method="counting", progress=True)
    assert "counting" in capsys.readouterr().err
    # one image (also as nested lists) is not a batch
    single = crfkit.estimate(images[0], method="counting")
    assert isinstance(single, crfkit.Curve)
    inst = get_estimator("counting")
    before = len(built)
    assert len(crfkit.estimate(images, method=inst)) == 3 and len(built) == before  # the instance is reused


# -- restorers ------------------------------------------------------------------------------------
class Exploding(Restorer):
    """Must never be built on the fast path; takes one option."""

    name = "exploding"

    def __init__(self, strength=1.0):
        raise AssertionError("the method was instantiated")

    @classmethod
    def _check_values(cls, options):
        if "strength" in options and not options["strength"] > 0:
            raise ValidationError(f"exploding: strength must be > 0, got {options['strength']!r}")
        return options


def test_restore_options_are_checked_even_when_nothing_is_saturated(registered):
    registered("restorer", "exploding", Exploding)
    out, info = restore_with_info(dark_photo(), method="exploding", strength=2.0)
    assert info["fast_path"] and out.shape == (48, 64, 3)
    with pytest.raises(UnknownNameError, match="exploding: unknown option bogus; valid options: strength"):
        restore_with_info(dark_photo(), method="exploding", bogus=1)
    with pytest.raises(ValidationError, match="strength"):
        restore_with_info(dark_photo(), method="exploding", strength=-1)
    for method, options, error in (
        ("clip", {"gain": 2}, UnknownNameError),
        ("highlight-expansion", {"gain": 0.5}, ValidationError),
        ("highlight-expansion", {"gain": "x"}, ValidationError),
        ("highlight-expansion", {"scale": float("nan")}, ValidationError),
        ("highlight-expansion", {"bogus": 1}, UnknownNameError),
    ):
        with pytest.raises(error) as exc:
            crfkit.restore(dark_photo(), method=method, **options)
        one_line(exc)


@pytest.mark.torch
@pytest.mark.parametrize(
    "options, error, match",
    [
        ({"bogus": 1}, UnknownNameError, "valid options: device, flips, model, overlap, progress, threads, tile, weights"),
        ({"tile": 0}, ValidationError, "tile=0"),
        ({"tile": "x"}, ValidationError, "tile='x'"),
        ({"tile": 128, "overlap": 64}, ValidationError, "overlap=64"),
        ({"overlap": -1}, ValidationError, "overlap=-1"),
        ({"flips": 3}, ValidationError, "flips=3"),
        ({"flips": True}, ValidationError, "flips=True"),
        ({"threads": -1}, ValidationError, "threads=-1"),
        ({"device": "foo"}, ValidationError, "foo"),
        ({"progress": "x"}, ValidationError, "progress"),
        ({"weights": 5}, ValidationError, "weights=5"),
    ],
)
def test_masked_unet_options_checked_up_front(options, error, match):
    pytest.importorskip("torch")
    for img in (dark_photo(), photo()):  # with and without saturation
        with pytest.raises(error, match=match) as exc:
            crfkit.restore(img, method="masked-unet", **options)
        one_line(exc)


def test_restore_entry_arguments(registered):
    with pytest.raises(ValidationError, match="threads"):
        crfkit.restore(photo(), method="clip", threads=-1)
    with pytest.raises(ValidationError, match="progress"):
        crfkit.restore(photo(), method="clip", progress=1)
    with pytest.raises(ValidationError, match="tau"):
        crfkit.restore(photo(), method="clip", tau=True)
    with pytest.raises(ValidationError, match="not an estimator"):
        crfkit.restore(photo(), method="clip", crf="gamma:2.2", crf_options={"device": "cpu"})
    with pytest.raises(ValidationError, match="crf_options"):
        crfkit.restore(photo(), method="clip", crf_options=["device"])


def test_restore_runs_in_the_thread_policy_and_takes_an_estimator_instance(registered):
    from crfkit._threads import active_threads

    seen = []

    class Recording(Restorer):
        name = "recording"

        def restore(self, linear, display, mask_sat):
            seen.append(active_threads())
            return linear

    class Square(Estimator):
        name = "square"
        min_size = 4
        calls = 0

        def estimate_inverse(self, image):
            Square.calls += 1
            return crfkit.Curve(crfkit.GRID ** 2, kind="inverse", name="square")

    registered("restorer", "recording", Recording)
    est = Square()
    img = photo()
    out = crfkit.restore(img, crf=est, method="recording", threads=1)
    assert seen == [1] and Square.calls == 1
    np.testing.assert_allclose(out, (img / 255.0) ** 2, atol=1e-6)
    with pytest.raises(ValidationError, match="instance"):
        crfkit.restore(img, crf=est, method="clip", crf_options={"device": "cpu"})


@pytest.mark.torch
def test_masked_unet_progress_is_off_by_default_and_on_when_asked(capsys):
    pytest.importorskip("torch")
    from crfkit.restoration.masked_unet import build_model

    model = build_model({"width": 0.125})
    img = photo(100, 300, bright=2.0)  # three 128-pixel tiles
    crfkit.restore(img, method="masked-unet", model=model, device="cpu", tile=128, overlap=16, flips=1)
    assert "masked-unet" not in capsys.readouterr().err
    crfkit.restore(img, method="masked-unet", model=model, device="cpu", tile=128, overlap=16, flips=1,
                   progress=True)
    assert "masked-unet" in capsys.readouterr().err
    # the restorer's own option wins over the pipeline's
    r = get_restorer("masked-unet", model=model, device="cpu", tile=128, overlap=16, flips=1, progress=True)
    crfkit.restore(img, method=r)
    assert "masked-unet" in capsys.readouterr().err


@pytest.mark.torch
def test_shipped_masked_unet_is_built_once_for_many_images():
    pytest.importorskip("torch")
    r = get_restorer("masked-unet", device="cpu", flips=1)
    outs = [crfkit.restore(photo(40, 40, seed=s), method=r) for s in range(2)]
    assert all(o.shape == (40, 40, 3) and o.dtype == np.float32 and np.isfinite(o).all() for o in outs)


def test_errors_are_crfkit_errors():
    assert issubclass(UnknownNameError, CrfkitError) and issubclass(ValidationError, CrfkitError)
