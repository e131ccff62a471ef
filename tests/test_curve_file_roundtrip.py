"""Curve files crfkit writes read back, and curve files it cannot use are refused clearly.

* every format ``crfkit export -o`` / ``crfkit fit --save`` / ``export_curves`` writes and
  crfkit can read (.crfs, .json, .csv) round-trips: values (to the format's precision),
  names and kind where the format stores them; the older JSON layout of
  ``crfkit estimate -o`` still reads;
* crfkit's own CSV reads as curves, x/y sample files stay samples;
* a file that is not a curve set, a folder, a flat curve: one-line crfkit errors;
* CurveSet/Curve API misuse raises crfkit errors.

The LUT formats (.cube, .spi1d) are written for other tools; crfkit has no reader for them.
"""

import io
import json
import zipfile

import numpy as np
import pytest

import crfkit
from crfkit.cli.export import curve_output_suffixes, save_curves
from crfkit.curves import GRID, Curve, CurveSet
from crfkit.curves.curveset import CurveIndexError
from crfkit.curves.image import channel_curves, load_curve_spec
from crfkit.curves.samples import Samples
from crfkit.data import read_curve_text
from crfkit.io import export_curves
from crfkit.restoration.pipeline import resolve_inverse_crf
from test_cli_commands import one_line_error, run

#: Formats crfkit writes and reads back (the LUTs have no reader).
READABLE = (".crfs", ".json", ".csv")




def rgb(kind="forward"):
    cs = CurveSet.from_curves(
        [Curve.gamma(g, name=f"cam/{c}") for g, c in zip((2.0, 2.2, 2.4), "RGB")],
        attrs={"source": "test", "n": 3},
        name="cam",
    )
    cs = CurveSet(cs.values, "forward", cs.names, [{"channel": c} for c in "RGB"], cs.attrs, cs.name)
    return cs.as_kind(kind)


def as_set(got):
    return got if isinstance(got, CurveSet) else CurveSet.from_curves([got])


# -- round trips -------------------------------------------------------------------------------
def test_every_readable_output_suffix_is_covered():
    assert set(curve_output_suffixes()) - {".cube", ".spi1d"} == set(READABLE)


@pytest.mark.parametrize("suffix", READABLE)
@pytest.mark.parametrize("kind", ["forward", "inverse"])
def test_save_curves_round_trip(tmp_path, suffix, kind):
    """What `fit --save` writes (save_curves: the curves as they are) reads back equal."""
    cs = rgb(kind)
    path = save_curves(cs, tmp_path / f"s{suffix}")
    spec = f"{kind}:{path}" if suffix == ".csv" else path  # CSV stores no kind (as .txt)
    back = load_curve_spec(spec)
    assert isinstance(back, CurveSet)
    assert back.kind == kind and back.names == cs.names
    np.testing.assert_array_equal(back.values, cs.values)  # repr-exact floats: bit-identical
    if suffix != ".csv":  # CSV holds names and values only
        assert back.metadata == cs.metadata and back.attrs == cs.attrs and back.name == cs.name


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_single_fitted_curve_round_trip(tmp_path, suffix):
    """fit --save of one curve writes a set of one: it reads back (the reported defect)."""
    c = Curve.gamma(2.2)
    path = save_curves(CurveSet.from_curves([c]), tmp_path / f"one{suffix}")
    back = as_set(load_curve_spec(f"forward:{path}"))
    assert len(back) == 1 and back.names == [c.name] and back.kind == "forward"
    np.testing.assert_array_equal(back.values[0], c.values)
    g = resolve_inverse_crf(f"forward:{path}")  # usable as a --crf
    np.testing.assert_allclose(g.values, c.inverse().values)


@pytest.mark.parametrize("direction", ["inverse", "forward", None])
def test_export_json_round_trip(tmp_path, direction):
    cs = rgb("forward")
    path = export_curves(cs, tmp_path / "c.json", direction=direction)
    back = load_curve_spec(path)
    want = cs if direction is None else cs.as_kind(direction)
    assert back == want  # kind, names, metadata, attrs, values


def test_export_json_single_curve(tmp_path):
    c = Curve.gamma(2.2, kind="inverse")
    back = load_curve_spec(export_curves(c, tmp_path / "c.json"))
    assert isinstance(back, Curve) and back.name == c.name and back.kind == "inverse"
    np.testing.assert_array_equal(back.values, c.values)


def test_export_json_with_size_reads_back_on_the_grid(tmp_path):
    c = Curve.gamma(2.2, kind="inverse")
    back = load_curve_spec(export_curves(c, tmp_path / "c.json", size=257))
    np.testing.assert_allclose(back.values, c.values, atol=2e-5)  # linear between 257 samples


def test_export_csv_round_trip(tmp_path):
    """The default direction (code -> linear) is also the convention for files without a kind."""
    cs = rgb("forward")
    path = export_curves(cs, tmp_path / "c.csv")
    back = load_curve_spec(path)
    assert isinstance(back, CurveSet) and back.kind == "inverse" and back.names == cs.names
    np.testing.assert_array_equal(back.values, cs.inverse().values)


def test_export_csv_single_curve_and_odd_names(tmp_path):
    c = Curve.gamma(2.0, kind="inverse", name='odd, "name" # x')
    back = load_curve_spec(export_curves(c, tmp_path / "c.csv"))
    assert isinstance(back, Curve) and back.name == c.name
    np.testing.assert_array_equal(back.values, c.values)
    small = load_curve_spec(export_curves(c, tmp_path / "d.csv", size=257))
    np.testing.assert_allclose(small.values, c.values, atol=2e-5)


def test_identity_curve_csv_reads_back(tmp_path):
    """`x,linear` names a sample column; on the curves' own grid it is still a curve."""
    c = Curve.identity(kind="inverse")
    back = load_curve_spec(export_curves(c, tmp_path / "lin.csv"))
    np.testing.assert_array_equal(back.values, c.values)


def test_fit_reads_its_own_csv_as_curves(tmp_path):
    cs = rgb("forward")
    path = save_curves(cs, tmp_path / "c.csv")
    got = read_curve_text(path, "forward")
    assert isinstance(got, CurveSet) and got.names == cs.names
    np.testing.assert_array_equal(got.values, cs.values)


def test_true_sample_files_stay_samples(tmp_path):
    x = np.linspace(0, 1, 12).tolist()
    for name, text in {
        "xy.csv": "x,y\n" + "".join(f"{a!r},{a ** 0.45!r}\n" for a in x),
        "xyw.csv": "x,y,weight\n" + "".join(f"{a!r},{a ** 0.45!r},1\n" for a in x),
        "plain.csv": "".join(f"{a!r},{a ** 0.45!r}\n" for a in x),
        "named.csv": "irradiance,brightness\n" + "".join(f"{a!r},{a ** 0.45!r}\n" for a in x),
    }.items():
        (tmp_path / name).write_text(text)
        got = read_curve_text(tmp_path / name)
        assert isinstance(got, Samples), name
        np.testing.assert_allclose(got.x, x)


def test_estimate_json_layout_still_reads(tmp_path):
    """The layout ``crfkit estimate -o F.json`` wrote before it wrote crfkit.curves.curvejson's."""
    g = Curve.gamma(2.2, kind="inverse")
    (tmp_path / "one.json").write_text(json.dumps({"kind": g.kind, "name": g.name, "values": list(g.values)}))
    back = load_curve_spec(tmp_path / "one.json")
    assert isinstance(back, Curve) and back.kind == "inverse" and back.name == g.name
    np.testing.assert_array_equal(back.values, g.values)
    cs = rgb("inverse")
    (tmp_path / "three.json").write_text(json.dumps({"kind": cs.kind, "names": cs.names,
                                                     "values": cs.values.tolist()}))
    back = load_curve_spec(tmp_path / "three.json")
    assert isinstance(back, CurveSet) and back.names == cs.names and back.kind == "inverse"
    np.testing.assert_array_equal(back.values, cs.values)
    (tmp_path / "bare.json").write_text(json.dumps({"values": list(g.values)}))  # no kind: inverse
    assert load_curve_spec(tmp_path / "bare.json").kind == "inverse"


def test_json_kind_must_match_the_hint(tmp_path):
    path = save_curves(rgb("forward"), tmp_path / "f.json")
    with pytest.raises(crfkit.ValidationError, match="holds forward curves, not inverse"):
        load_curve_spec(f"inverse:{path}")


@pytest.mark.parametrize("doc, match", [
    ([1, 2], "expected an object"),
    ({"kind": "inverse"}, "values is missing"),
    ({"values": [0.5] * 10}, "1024 numbers"),
    ({"values": ["a"] * 1024}, "numbers only"),
    ({"values": [list(GRID), list(GRID[:5])]}, "different lengths"),
    ({"values": list(GRID), "kind": "sideways"}, "kind"),
    ({"values": list(GRID), "format": "crfkit-curves", "version": 9}, "newer"),
    ({"values": list(GRID), "names": [1]}, "names"),
    ({"values": [0, 1], "x": [0, 0.3]}, "evenly spaced"),
])
def test_bad_json_is_a_parse_error(tmp_path, doc, match):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(crfkit.ParseError, match=match) as exc:
        load_curve_spec(path)
    assert str(path) in str(exc.value)


def test_cli_fit_save_then_export_and_fit(tmp_path, capsys):
    """The reported commands: fit --save F.json / F.csv, then export and fit read F."""
    src = tmp_path / "g.txt"
    src.write_text("\n".join(repr(float(v)) for v in Curve.gamma(2.2).values))
    for suffix in (".json", ".csv", ".crfs"):
        saved = tmp_path / f"d{suffix}"
        assert run(capsys, "fit", src, "-m", "gamma", "--save", saved)[0] == 0
        spec = f"forward:{saved}" if suffix == ".csv" else saved
        assert run(capsys, "export", spec, "-o", tmp_path / f"back{suffix}.json")[0] == 0
        assert run(capsys, "fit", saved, "-m", "gamma")[0] == 0
        doc = json.loads((tmp_path / f"back{suffix}.json").read_text())
        assert doc["kind"] == "inverse" and np.size(doc["values"]) == 1024
    status, _, err = run(capsys, "export", tmp_path / "back.json.json", "-o", tmp_path / "again.csv")
    assert status == 0, err
    assert run(capsys, "export", tmp_path / "again.csv", "-o", tmp_path / "again.json")[0] == 0


# -- not a curve set ---------------------------------------------------------------------------
def _npy_bytes():
    buf = io.BytesIO()
    np.save(buf, np.zeros(3))
    return buf.getvalue()


def _object_member_bytes():
    buf = io.BytesIO()
    obj = np.empty(2, dtype=object)
    obj[:] = [1, "x"]
    np.savez(buf, values=obj, **{"meta.json": np.array("{}")})
    return buf.getvalue()


def _crfs_bytes(tmp_path):
    return rgb().save(tmp_path / "good.crfs").read_bytes()


@pytest.mark.parametrize("suffix", [".crfs", ".npz"])
@pytest.mark.parametrize("what", ["random", "png", "text", "npy", "truncated", "empty", "object member"])
def test_not_a_curve_set(tmp_path, suffix, what):
    data = {
        "random": np.random.default_rng(0).bytes(300),
        "png": b"\x89PNG\r\n\x1a\n" + bytes(200),
        "text": b"hello, this is text\n",
        "npy": _npy_bytes(),
        "truncated": _crfs_bytes(tmp_path)[:200],
        "empty": b"",
        "object member": _object_member_bytes(),
    }[what]
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(data)
    for load in (CurveSet.load, crfkit.load_curves, load_curve_spec, resolve_inverse_crf):
        with pytest.raises(crfkit.ParseError) as exc:
            load(path)
        msg = str(exc.value)
        assert str(path) in msg and "pickle" not in msg.lower(), msg
        assert len(msg.splitlines()) == 1
        if what != "object member":
            assert "not a crfkit curve-set file" in msg, msg


def test_not_a_curve_set_cli(tmp_path, capsys):
    path = tmp_path / "x.crfs"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    line = one_line_error(capsys, "export", path, "-o", tmp_path / "o.json",
                          fragments=("not a crfkit curve-set file", "PNG"))
    assert "allow_pickle" not in line


# -- flat curves -------------------------------------------------------------------------------
@pytest.fixture
def flat_file(tmp_path):
    return CurveSet(np.zeros((1, 1024)), "inverse", ["dead"]).save(tmp_path / "flat.crfs")


def test_flat_curve_refused_where_resolved(tmp_path, flat_file):
    img = np.full((4, 5, 3), 100, np.uint8)
    for call in (
        lambda: resolve_inverse_crf(flat_file),
        lambda: load_curve_spec(flat_file),
        lambda: crfkit.linearize(img, str(flat_file)),
        lambda: crfkit.apply_curve(img, str(flat_file)),
        lambda: channel_curves(str(flat_file)),
        lambda: export_curves(CurveSet.load(flat_file), tmp_path / "o.json", direction="forward"),
    ):
        with pytest.raises(crfkit.ValidationError, match="flat") as exc:
            call()
        assert "dead" in str(exc.value)


def test_flat_curve_messages_name_file_and_curve(flat_file):
    with pytest.raises(crfkit.ValidationError) as exc:
        resolve_inverse_crf(flat_file)
    assert str(exc.value).startswith(f"curve 'dead' in {flat_file} is flat")


def test_flat_in_memory_curves_refused():
    flat = Curve(np.full(1024, 0.5), name="half")
    with pytest.raises(crfkit.ValidationError, match="flat"):
        flat.inverse()
    with pytest.raises(crfkit.ValidationError, match="flat"):
        CurveSet.from_curves([Curve.gamma(2.2), flat]).inverse()
    with pytest.raises(crfkit.ValidationError, match="'half'.*flat"):
        resolve_inverse_crf(flat)
    with pytest.raises(crfkit.ValidationError, match="'half'.*flat"):
        crfkit.linearize(np.zeros((2, 2), np.uint8), flat)


def test_exposure_disagreement_refuses_flat(flat_file):
    from crfkit.bracket import exposure_disagreement

    imgs = [np.full((8, 8, 3), v, np.uint8) for v in (60, 120)]
    with pytest.raises(crfkit.ValidationError, match="flat"):
        exposure_disagreement(imgs, str(flat_file), times=[1, 2])


def test_flat_curve_cli(capsys, tmp_path, flat_file):
    for args in (("export", flat_file, "-o", tmp_path / "o.json"),
                 ("table", "--curves", flat_file, "--no-published")):
        one_line_error(capsys, *args, fragments=("flat", "dead"))


def test_clipped_curves_still_accepted(tmp_path):
    clipped = Curve(np.minimum(1.5 * GRID, 1.0), name="clip")  # flat stretch at the top
    path = CurveSet.from_curves([clipped]).save(tmp_path / "clip.crfs")
    g = resolve_inverse_crf(path)
    assert g.kind == "inverse"
    np.testing.assert_allclose(clipped(g.values), GRID, atol=1e-12)
    crfkit.linearize(np.zeros((2, 2), np.uint8), str(path))


def test_flat_sets_still_load_as_stored(flat_file):
    """A set file is read as written (storage); only using it as a response is refused."""
    assert crfkit.load_curves(flat_file).values.max() == 0.0


# -- folders -----------------------------------------------------------------------------------
def test_folder_is_not_a_curve_file(tmp_path, capsys):
    folder = tmp_path / "dir.crfs"
    folder.mkdir()
    for call in (
        lambda: resolve_inverse_crf(folder),
        lambda: resolve_inverse_crf(tmp_path),
        lambda: crfkit.load_curves(folder),
        lambda: crfkit.load_curves(tmp_path),
        lambda: load_curve_spec(folder),
        lambda: load_curve_spec(tmp_path),
        lambda: CurveSet.load(folder),
    ):
        with pytest.raises(crfkit.ValidationError, match="is a folder, not a curve file"):
            call()
    one_line_error(capsys, "export", folder, "-o", tmp_path / "o.json", fragments=("is a folder",))
    one_line_error(capsys, "export", tmp_path, "-o", tmp_path / "o.json", fragments=("is a folder",))


# -- API misuse ----------------------------------------------------------------------------------
def test_curveset_bad_arguments():
    vals = np.stack([GRID, GRID**0.5])
    for kwargs in ({"metadata": 5}, {"attrs": 5}, {"names": 5}, {"names": "ab"}, {"metadata": [1, 2]},
                   {"attrs": [("a", 1)]}):
        with pytest.raises(crfkit.ValidationError):
            CurveSet(vals, **kwargs)
    with pytest.raises(crfkit.ValidationError):
        Curve(GRID, metadata=5)
    with pytest.raises(crfkit.ValidationError, match="path"):
        CurveSet.load(None)


def test_curveset_indexing():
    cs = rgb()
    with pytest.raises(CurveIndexError, match="out of range") as exc:
        cs[9999]
    assert isinstance(exc.value, IndexError) and isinstance(exc.value, crfkit.CrfkitError)
    with pytest.raises(CurveIndexError):
        cs[[0, 9999]]
    for bad in (1.5, None, True, [1.5], np.zeros((2, 2), int)):
        with pytest.raises(crfkit.ValidationError):
            cs[bad]
    with pytest.raises(crfkit.UnknownNameError):
        cs[["cam/R", "nope"]]
    assert [c.name for c in cs] == cs.names  # iteration stops at the end
    assert len(list(iter(cs))) == 3
    assert cs[-1].name == "cam/B" and cs[np.int64(0)].name == "cam/R"
    assert cs[1:].names == ["cam/G", "cam/B"]
    assert cs[[2, "cam/R"]].names == ["cam/B", "cam/R"]
    assert cs[np.array([True, False, True])].names == ["cam/R", "cam/B"]


def test_curve_call_with_a_string():
    c = Curve.gamma(2.2)
    with pytest.raises(crfkit.ValidationError, match="numbers"):
        c("a")
    assert c(np.array([], float)).shape == (0,)
    assert c([0.0, 1.0]).tolist() == [0.0, 1.0]


def test_messages_show_plain_numbers():
    with pytest.raises(crfkit.ValidationError) as exc:
        Curve.gamma(np.float64("nan"))
    assert "np." not in str(exc.value) and "nan" in str(exc.value)
    with pytest.raises(crfkit.ValidationError) as exc:
        export_curves(Curve.gamma(2.2), "x.json", size=np.float64(2.5))
    assert "np." not in str(exc.value)
