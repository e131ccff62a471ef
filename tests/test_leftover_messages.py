"""Leftovers of the one-layout / one-line-error work.

* ``crfkit estimate -o F.json`` writes the one JSON curve layout (:mod:`crfkit.curves.curvejson`),
  as ``fit --save`` and ``export`` do;
* argument checks show NumPy scalars as plain numbers, never ``np.float64(...)``;
* a ``.npz`` that is not a crfkit PCA basis is one crfkit error naming the file and what a basis
  file is, never a hint to unpickle it.

(Unknown camera keys of a dataset manifest are tested with the other manifest fields in
``test_manifest_field_errors.py``.)
"""

import io
import json

import numpy as np
import pytest
from _estimator_helpers import make_tiny_weights, photo
from test_cli_commands import one_line_error, run

import crfkit
from crfkit._validation import check_bool, check_float, check_int, check_not_path
from crfkit.curves import GRID, Curve, CurveSet
from crfkit.curves.curvejson import FORMAT_NAME, FORMAT_VERSION, read_curves_json
from crfkit.curves.image import load_curve_spec
from crfkit.io import write_linear_image
from crfkit.io.raw import read_raw_linear
from crfkit.models.pca import PCABasis


# -- estimate -o F.json ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    pytest.importorskip("torch")
    return make_tiny_weights(tmp_path_factory.mktemp("weights"))


@pytest.fixture
def jpeg(tmp_path):
    import imageio.v3 as iio

    path = tmp_path / "photo.jpg"
    iio.imwrite(path, photo(), quality=90)
    return path


def _layout(path):
    doc = json.loads(path.read_text())
    assert (doc["format"], doc["version"]) == (FORMAT_NAME, FORMAT_VERSION), doc.keys()
    assert doc["kind"] == "inverse" and doc["direction"] == "code -> linear"
    assert doc["x"] == [float(v) for v in GRID]
    return doc


@pytest.mark.torch
def test_estimate_json_is_the_curvejson_layout(tiny, jpeg, tmp_path, capsys):
    out = tmp_path / "g.json"
    status, stdout, err = run(capsys, "estimate", jpeg, "-m", "crf-net", "--weights", tiny["crf-net"],
                              "--device", "cpu", "-o", out, "--json")
    assert status == 0 and f"wrote {out}" in err, err
    printed = json.loads(stdout)["values"]
    doc = _layout(out)
    assert doc["name"] == "photo.jpg" and doc["names"] == ["photo.jpg"]
    assert doc["values"] == printed
    for back in (load_curve_spec(out), read_curves_json(out, kind="inverse")):
        assert isinstance(back, Curve) and back.name == "photo.jpg"
        np.testing.assert_array_equal(back.values, printed)


@pytest.mark.torch
def test_estimate_per_channel_json_is_the_curvejson_layout(tiny, jpeg, tmp_path, capsys):
    out = tmp_path / "rgb.json"
    status, stdout, err = run(capsys, "estimate", jpeg, "-m", "crf-net", "--weights", tiny["crf-net"],
                              "--device", "cpu", "--per-channel", "-o", out, "--json")
    assert status == 0, err
    printed = json.loads(stdout)["values"]
    doc = _layout(out)
    assert doc["names"] == ["R", "G", "B"] and doc["values"] == printed
    back = load_curve_spec(out)
    assert isinstance(back, CurveSet) and back.names == ["R", "G", "B"] and back.kind == "inverse"
    np.testing.assert_array_equal(back.values, printed)


# -- NumPy scalars in messages -------------------------------------------------------------------
def _message(call):
    with pytest.raises(crfkit.ValidationError) as exc:
        call()
    return str(exc.value)


@pytest.mark.parametrize("call, shown", [
    (lambda: check_float(np.complex128(1 + 2j), "gain"), "(1+2j)"),
    (lambda: check_float(np.True_, "gain"), "True"),
    (lambda: check_float(np.float64("nan"), "gain"), "nan"),
    (lambda: check_float(np.float64(-2.5), "gain", low=0), "-2.5"),
    (lambda: check_int(np.float64(2.5), "k"), "2.5"),
    (lambda: check_bool(np.int64(1), "flag"), "1"),
    (lambda: check_not_path(np.str_("a.png"), "estimate"), "'a.png'"),
    (lambda: write_linear_image("x.tif", np.zeros((2, 2, 3)), scale=np.float64(-1.0)), "-1.0"),
    (lambda: write_linear_image("x.tif", np.zeros((2, 2, 3)), scale=np.float64("inf")), "inf"),
    (lambda: read_raw_linear("x.dng", white_balance=np.str_("daylight")), "'daylight'"),
    (lambda: read_raw_linear("x.dng", white_balance=[1.0, np.float64("nan"), 1.0, 1.0]), "nan"),
], ids=["float-complex", "float-bool", "float-nan", "float-low", "int", "bool", "path", "scale", "scale-inf",
        "white-balance", "white-balance-nan"])
def test_numpy_scalars_are_shown_as_plain_values(call, shown):
    msg = _message(call)
    assert "np." not in msg and shown in msg, msg


# -- a .npz that is not a PCA basis ----------------------------------------------------------------
def _object_array():
    obj = np.empty(2, dtype=object)
    obj[:] = [1, "x"]
    return obj


def _npz(**members):
    buf = io.BytesIO()
    np.savez(buf, **members)
    return buf.getvalue()


def _basis_members(**replace):
    meta = json.dumps({"format": "crfkit-pcabasis", "version": 1, "kind": "forward", "source": "t"})
    members = {"mean": GRID, "components": np.sin(np.pi * GRID)[None], "explained_variance_ratio": [1.0],
               "meta.json": np.array(meta)}
    return _npz(**{**members, **replace})


def _npy():
    buf = io.BytesIO()
    np.save(buf, np.zeros(3))
    return buf.getvalue()


# what the file holds -> (its bytes, a word the message must contain)
NOT_A_BASIS = {
    "object mean": (lambda: _basis_members(mean=_object_array()), "mean"),
    "object meta": (lambda: _basis_members(**{"meta.json": _object_array()}), "meta.json"),
    "meta not JSON": (lambda: _basis_members(**{"meta.json": np.array("{oops")}), "meta.json"),
    "meta numbers": (lambda: _basis_members(**{"meta.json": np.zeros((2, 2))}), "meta.json"),
    "other npz": (lambda: _npz(weights=np.ones(3)), "weights"),
    "text": (lambda: b"hello, this is text\n", "text"),
    "npy": (_npy, "NumPy"),
    "truncated": (lambda: _basis_members()[:200], "damaged"),
    "empty": (lambda: b"", "empty"),
}


@pytest.mark.parametrize("what", list(NOT_A_BASIS))
def test_not_a_pca_basis_is_one_line_naming_the_file(tmp_path, what):
    make, fragment = NOT_A_BASIS[what]
    path = tmp_path / "basis.npz"
    path.write_bytes(make())
    with pytest.raises(crfkit.ParseError) as exc:
        PCABasis.load(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: ") and "PCA basis" in msg and fragment in msg, msg
    assert "pickle" not in msg.lower() and "\n" not in msg, msg


def test_a_curve_set_npz_is_named_as_one(tmp_path):
    path = CurveSet(GRID[None] ** 0.5).save(tmp_path / "set.npz")
    with pytest.raises(crfkit.ParseError, match="curve set") as exc:
        PCABasis.load(path)
    assert str(path) in str(exc.value)


def test_fit_with_a_foreign_basis_file_is_one_line(tmp_path, capsys):
    src = tmp_path / "g.txt"
    src.write_text("\n".join(repr(float(v)) for v in GRID ** 0.45))
    path = tmp_path / "basis.npz"
    path.write_bytes(_basis_members(mean=_object_array()))
    line = one_line_error(capsys, "fit", src, "-m", "pca", "--basis", path, fragments=(str(path), "PCA basis"))
    assert "pickle" not in line.lower()
