"""Per-channel estimates (issue 14, item 3): ``crfkit.estimate(..., per_channel=True)``, method specs
``NAME:per-channel[=MODE]``, ``crfkit estimate --per-channel``, and per-channel rows in the real-camera
evaluation.

The network tests use tiny weight files (no data needed); the property tests check the invariant of
issue 12: whatever ``per_channel`` and the image are, a valid result (three inverse curves R, G, B when
per-channel curves were asked for) or a one-line :class:`crfkit.CrfkitError`.
"""

import json
import warnings

import numpy as np
import pytest
from _estimator_helpers import make_tiny_weights, photo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crfkit
from crfkit.curves import Curve, CurveSet
from crfkit.errors import CrfkitError, ValidationError
from crfkit.estimators import Estimator, get_estimator, parse_method, register_estimator
from crfkit.estimators.base import check_per_channel, combine_channel_curves

NETS = ["crf-net", "linearization-net"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    pytest.importorskip("torch")
    return make_tiny_weights(tmp_path_factory.mktemp("weights"))


def check_three(g):
    assert isinstance(g, CurveSet) and len(g) == 3 and g.kind == "inverse"
    assert list(g.names) == ["R", "G", "B"]
    for c in g:
        v = c.values
        assert np.isfinite(v).all() and c.is_monotone() and v[0] == 0.0 and v[-1] == 1.0


def one_line(exc):
    assert str(exc) and "\n" not in str(exc), str(exc)


# -- the pieces without torch ---------------------------------------------------------------------
def test_check_per_channel_values():
    modes = ("offset", "gray")
    assert check_per_channel(False, "x", modes) is None and check_per_channel(None, "x", modes) is None
    assert check_per_channel(True, "x", modes, "offset") == "offset"
    assert check_per_channel(True, "x", modes) == "offset"  # the first mode without a default
    assert check_per_channel("gray", "x", modes) == "gray"
    for bad in ("yes", 1, 0, 1.5, [], "GRAY", ""):
        with pytest.raises(ValidationError, match="per_channel") as info:
            check_per_channel(bad, "x", modes)
        one_line(info.value)


def test_combine_channel_curves():
    grid = np.linspace(0, 1, 1024)
    joint = grid ** 2.2
    grays = np.stack([grid ** 2.0, grid ** 2.2, grid ** 2.4])
    np.testing.assert_allclose(combine_channel_curves(joint, grays, "gray"), grays, atol=1e-12)
    off = combine_channel_curves(joint, grays, "offset")
    # the joint curve plus each channel's difference from the grey runs' mean (clipped, monotone, pinned)
    want = joint + grays - grays.mean(0)
    inside = (want >= 0) & (want <= 1)
    np.testing.assert_allclose(off[inside], want[inside], atol=1e-12)
    assert np.all(np.diff(off, axis=1) >= 0) and np.all(off[:, 0] == 0) and np.all(off[:, -1] == 1)
    # equal grey runs: every channel gets the joint curve
    same = combine_channel_curves(joint, np.stack([grid ** 2] * 3), "offset")
    np.testing.assert_allclose(same, np.stack([joint] * 3), atol=1e-12)


@pytest.mark.parametrize("spec, want", [
    ("crf-net", ("crf-net", {})),
    ("crf-net:per-channel", ("crf-net", {"per_channel": True})),
    ("linearization-net:per-channel=gray", ("linearization-net", {"per_channel": "gray"})),
])
def test_parse_method(spec, want):
    assert parse_method(spec) == want


@pytest.mark.parametrize("spec", ["crf-net:", "crf-net:per-channel=", "crf-net:perchannel", "crf-net:x=1"])
def test_parse_method_refuses(spec):
    with pytest.raises(ValidationError) as info:
        parse_method(spec)
    one_line(info.value)


@pytest.mark.parametrize("method", [3, None, 1.5])
def test_a_method_that_is_not_a_name_is_refused_by_the_registry(method):
    with pytest.raises(CrfkitError) as info:
        crfkit.estimate(photo(), method=method, per_channel=True)
    one_line(info.value)


def test_lin2004_per_channel_through_estimate():
    img = photo(64, 80)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few edges: the prior mean, with a warning
        for pc in (True, "coupled"):
            check_three(crfkit.estimate(img, method="lin2004", per_channel=pc))
        check_three(crfkit.estimate(img, method="lin2004:per-channel"))
    with pytest.raises(ValidationError, match="per_channel='gray'"):
        crfkit.estimate(img, method="lin2004", per_channel="gray")


def test_a_method_without_per_channel_curves_is_refused_in_one_line():
    class OneCurve(Estimator):
        name = "one-curve-test"

        def estimate_inverse(self, image):
            return Curve.gamma(2.2, kind="inverse")

    register_estimator("one-curve-test", OneCurve)
    assert isinstance(crfkit.estimate(photo(40, 40), method="one-curve-test"), Curve)
    assert isinstance(get_estimator("one-curve-test", per_channel=False), OneCurve)  # what it gives anyway
    for kw in ({"method": "one-curve-test", "per_channel": True}, {"method": "one-curve-test:per-channel"}):
        with pytest.raises(ValidationError, match="one curve for all channels") as info:
            crfkit.estimate(photo(40, 40), **kw)
        one_line(info.value)
        assert "crf-net" in str(info.value)  # names the methods that can


def test_per_channel_given_twice_or_with_a_mismatched_instance(tiny):
    with pytest.raises(ValidationError, match="twice"):
        get_estimator("crf-net:per-channel", per_channel="gray", weights=tiny["crf-net"])
    est = get_estimator("linearization-net", weights=tiny["linearization-net"])
    with pytest.raises(ValidationError, match="per_channel"):
        crfkit.estimate(photo(), method=est, per_channel=True)
    est_gray = get_estimator("linearization-net", weights=tiny["linearization-net"], per_channel="gray")
    check_three(crfkit.estimate(photo(), method=est_gray, per_channel=True))
    check_three(crfkit.estimate(photo(), method=est_gray))
    with pytest.raises(ValidationError, match="per_channel"):
        crfkit.estimate(photo(), method=est_gray, per_channel="offset")


# -- the networks ----------------------------------------------------------------------------------
@pytest.mark.parametrize("method", NETS)
@pytest.mark.parametrize("mode", [True, "offset", "gray"])
def test_networks_give_three_valid_curves(tiny, method, mode):
    g = crfkit.estimate(photo(), method=method, per_channel=mode, weights=tiny[method])
    check_three(g)
    g2 = crfkit.estimate(photo(), method=f"{method}:per-channel" + ("" if mode is True else f"={mode}"),
                         weights=tiny[method])
    np.testing.assert_array_equal(g.values, g2.values)  # deterministic, and the spec is the same option


@pytest.mark.parametrize("method", NETS)
@pytest.mark.parametrize("mode", ["offset", "gray"])
def test_a_grey_photo_gets_the_shared_curve_in_every_channel(tiny, method, mode):
    grey = np.repeat(photo()[:, :, :1], 3, axis=2)
    shared = crfkit.estimate(grey, method=method, weights=tiny[method])
    three = crfkit.estimate(grey, method=method, per_channel=mode, weights=tiny[method])
    for c in three:
        np.testing.assert_allclose(c.values, shared.values, atol=1e-6)


@pytest.mark.parametrize("method", NETS)
def test_gray_mode_follows_the_channels(tiny, method):
    img = photo(seed=3)
    perm = [2, 0, 1]
    a = crfkit.estimate(img, method=method, per_channel="gray", weights=tiny[method])
    b = crfkit.estimate(img[:, :, perm], method=method, per_channel="gray", weights=tiny[method])
    np.testing.assert_allclose(b.values, a.values[perm], atol=1e-6)


@pytest.mark.parametrize("method", NETS)
def test_offset_keeps_the_joint_curve_on_average(tiny, method):
    img = photo(seed=5)
    shared = crfkit.estimate(img, method=method, weights=tiny[method])
    three = crfkit.estimate(img, method=method, per_channel=True, weights=tiny[method])
    # before clipping and the monotone fix-up the channel mean is exactly the joint curve
    assert float(np.abs(three.values.mean(0) - shared.values).max()) < 0.05


def test_linearize_takes_a_per_channel_estimate(tiny):
    img = photo()
    g = crfkit.estimate(img, method="crf-net", per_channel=True, weights=tiny["crf-net"])
    lin = crfkit.linearize(img, g)
    for c in range(3):
        np.testing.assert_allclose(lin[..., c], crfkit.linearize(img[..., c], g[c]), atol=1e-6)


# -- properties ------------------------------------------------------------------------------------
PER_CHANNEL_VALUES = [True, False, None, "offset", "gray", "coupled", "x", "", 1, 0, 1.5, [], {"a": 1}]
VALID = {"crf-net": {True, "offset", "gray"}, "linearization-net": {True, "offset", "gray"},
         "lin2004": {True, "coupled"}}
prop_settings = settings(max_examples=max(10, settings().max_examples // 3), deadline=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                HealthCheck.function_scoped_fixture])


@st.composite
def images(draw):
    kind = draw(st.sampled_from(["photo", "grey", "odd", "constant", "float", "small"]))
    seed = draw(st.integers(0, 99))
    if kind == "photo":
        return photo(draw(st.sampled_from([40, 80])), draw(st.sampled_from([40, 96])), seed=seed)
    if kind == "grey":
        return photo(64, 64, seed=seed)[:, :, 0]
    if kind == "constant":
        return np.full((64, 64, 3), 128, np.uint8)
    if kind == "float":
        a = photo(64, 64, seed=seed).astype(np.float32) / 255
        if draw(st.booleans()):
            a[0, 0, 0] = draw(st.sampled_from([np.nan, 2.0, -1.0]))
        return a
    if kind == "small":
        return photo(8, 8, seed=seed)
    shape = draw(st.sampled_from([(40, 40, 2), (40, 40, 4), (40,), (0, 0, 3), (40, 40, 5)]))
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)


@pytest.mark.torch
@prop_settings
@given(method=st.sampled_from(["crf-net", "linearization-net", "lin2004"]),
       per_channel=st.sampled_from(PER_CHANNEL_VALUES), spec=st.booleans(), image=images())
def test_valid_result_or_crfkit_error_whatever_is_given(tiny, method, per_channel, spec, image):
    opts = {"weights": tiny[method]} if method in tiny else {}
    if method == "crf-net":
        opts["n_patches"] = 4
    if spec and isinstance(per_channel, str):
        kw = {"method": f"{method}:per-channel={per_channel}"}
    else:
        kw = {"method": method, "per_channel": per_channel}
    value = kw.get("per_channel", per_channel)
    asked = not (value is False or value is None)
    valid_option = not asked or any(v is value or (isinstance(value, str) and v == value) for v in VALID[method])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g = crfkit.estimate(image, **kw, **opts)
    except CrfkitError as exc:
        one_line(exc)
        return
    assert valid_option, f"invalid per_channel accepted: {kw}"
    if asked:
        check_three(g)
    else:
        assert isinstance(g, Curve) and g.kind == "inverse" and g.is_monotone()


@given(per_channel=st.one_of(st.sampled_from(PER_CHANNEL_VALUES), st.text(max_size=8), st.integers(),
                             st.floats(allow_nan=True)))
@settings(deadline=None)
def test_bad_per_channel_values_fail_before_any_image_is_read(per_channel):
    # lin2004 needs no weights: True, False, None and 'coupled' are accepted, anything else is refused
    ok = per_channel is True or per_channel is False or per_channel is None or per_channel == "coupled"
    try:
        est = get_estimator("lin2004", per_channel=per_channel)
    except CrfkitError as exc:
        one_line(exc)
        assert not ok, f"valid per_channel={per_channel!r} refused"
        return
    assert ok, f"invalid per_channel={per_channel!r} accepted"
    assert bool(est.per_channel) == (per_channel is True or per_channel == "coupled")


# -- the command line and the real-camera evaluation ------------------------------------------------
def test_cli_estimate_per_channel(tiny, tmp_path, capsys):
    import imageio.v3 as iio

    from crfkit.cli import main

    iio.imwrite(tmp_path / "a.png", photo())
    iio.imwrite(tmp_path / "b.png", photo(seed=2))
    w = str(tiny["crf-net"])
    assert main(["estimate", str(tmp_path / "a.png"), "-m", "crf-net", "--weights", w, "--per-channel",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["channels"] == ["R", "G", "B"] and np.array(out["values"]).shape == (3, 1024)
    assert main(["estimate", str(tmp_path / "a.png"), "-m", "crf-net", "--weights", w, "--per-channel",
                 "-o", str(tmp_path / "a.crfs")]) == 0
    text = capsys.readouterr().out
    assert "inverse CRF R:" in text and "inverse CRF B:" in text
    cs = CurveSet.load(tmp_path / "a.crfs")
    assert len(cs) == 3 and list(cs.names) == ["R", "G", "B"]
    # a batch: each file holds one photo's three curves, labelled with the photo
    assert main(["estimate", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "-m", "crf-net", "--weights", w,
                 "--per-channel", "-o", str(tmp_path / "out"), "--format", "crfs"]) == 0
    capsys.readouterr()
    cs = CurveSet.load(tmp_path / "out" / "b.crfs")
    assert list(cs.names) == ["b.png/R", "b.png/G", "b.png/B"]
    # the saved set linearises per channel through linearize --curve
    assert main(["linearize", str(tmp_path / "a.png"), "--curve", str(tmp_path / "a.crfs"),
                 "-o", str(tmp_path / "a.npy")]) == 0
    assert "(per channel)" in capsys.readouterr().err
    # linearize estimates per channel itself with --per-channel, the same curves as estimate's
    assert main(["linearize", str(tmp_path / "a.png"), "-m", "crf-net", "--weights", w, "--per-channel",
                 "-o", str(tmp_path / "b.npy")]) == 0
    assert "(per channel)" in capsys.readouterr().err
    np.testing.assert_allclose(np.load(tmp_path / "b.npy"), np.load(tmp_path / "a.npy"), atol=1e-6)
    # a method spec with a bad mode: one line, status 2
    assert main(["estimate", str(tmp_path / "a.png"), "-m", "crf-net:per-channel=zz", "--weights", w]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "per_channel='zz'" in err


def test_evaluate_real_scores_per_channel_variants(tiny, tmp_path):
    from test_real_estimators import make_folder

    from crfkit.evaluation.real_estimators import evaluate_real

    root = make_folder(tmp_path / "mb", cameras=("CamA",), shape=(136, 144))
    methods = ["crf-net", "crf-net:per-channel", "linearization-net:per-channel=gray", "lin2004:per-channel"]
    weights = {"crf-net": tiny["crf-net"], "crf-net:per-channel": tiny["crf-net"],
               "linearization-net:per-channel=gray": tiny["linearization-net"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = evaluate_real(root, methods, bracket=False, weights=weights)
    assert res.methods[:4] == methods
    for m in methods:
        assert np.isfinite(res.errors[m]).all(), res.reasons[m]
    with pytest.raises(ValidationError):
        evaluate_real(root, ["crf-net:per-channel=zz"], bracket=False, weights={"crf-net:per-channel=zz": "x"})


def test_evaluate_real_default_adds_each_per_channel_variant(tiny, tmp_path):
    from test_real_estimators import make_folder

    from crfkit.estimators import available_estimators
    from crfkit.evaluation.real_estimators import evaluate_real

    root = make_folder(tmp_path / "mb", cameras=("CamA",), shape=(136, 144))
    weights = {"crf-net": tiny["crf-net"], "linearization-net": tiny["linearization-net"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = evaluate_real(root, bracket=False, weights=weights, options={"crf-net": {"n_patches": 4}})
        only = evaluate_real(root, ["crf-net"], bracket=False, weights={"crf-net": tiny["crf-net"]}, per_channel=True)
    est = [m for m in res.methods if m in available_estimators() or ":" in m]
    for m in ("crf-net", "linearization-net", "lin2004"):
        assert est.index(m + ":per-channel") == est.index(m) + 1  # each right after its estimator
        assert np.isfinite(res.errors[m + ":per-channel"]).all(), res.reasons[m + ":per-channel"]
    assert only.methods[:2] == ["crf-net", "crf-net:per-channel"]
