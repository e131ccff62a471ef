"""DoRF and EMoR parsers on synthetic files written by the tests (valid and malformed)."""

import itertools
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import crfkit
from crfkit.data import parse_dorf_text, parse_emor_text, read_dorf, read_emor
from _helpers import GRID, dorf_lines, dorf_text, emor_blocks, emor_lines, monotone_curve, synthetic_basis

_counter = itertools.count()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A module-level folder (hypothesis cannot use function-scoped tmp_path)."""
    return tmp_path_factory.mktemp("parsers")


def fresh_path(folder, name):
    d = folder / f"case{next(_counter)}"
    d.mkdir()
    return d / name


# Printable ASCII without characters that str.splitlines treats as line breaks.
label = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=12).flatmap(
    lambda head: st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12).map(
        lambda tail: (head + tail).strip()
    )
)
formats = st.sampled_from(["%.6e", "%.17g", "%.9f", "%r"])


def fmt_values(values, fmt):
    if fmt == "%r":
        return [repr(float(v)) for v in values]
    return [fmt % v for v in values]


def expected_parse(values, fmt):
    return np.array([float(s) for s in fmt_values(values, fmt)])


# -- DoRF ----------------------------------------------------------------------------------------
@st.composite
def dorf_records(draw, max_records=3):
    n = draw(st.integers(1, max_records))
    records = []
    for _ in range(n):
        seed = draw(st.integers(0, 2**32 - 1))
        flat = draw(st.sampled_from([0.0, 0.3]))
        records.append((draw(label), draw(label), monotone_curve(seed, flat_fraction=flat)))
    return records


def dorf_text_fmt(records, fmt, newline="\r\n", sep=" "):
    grid_text = sep.join(fmt_values(GRID, fmt))
    lines = []
    for name, ctype, values in records:
        lines += [name, ctype, "I =", grid_text, "B =", sep.join(fmt_values(values, fmt))]
    return newline.join(lines) + newline


@given(
    records=dorf_records(),
    fmt=formats,
    newline=st.sampled_from(["\r\n", "\n"]),
    sep=st.sampled_from([" ", "\t", "   "]),
    trailing=st.sampled_from(["", "\r\n", "\n\n  \n"]),
)
def test_dorf_parses_synthetic_text(workdir, records, fmt, newline, sep, trailing):
    text = dorf_text_fmt(records, fmt, newline, sep) + trailing
    path = fresh_path(workdir, "dorfCurves.txt")
    path.write_bytes(text.encode("latin-1"))
    for cs in (parse_dorf_text(text, "x.txt"), read_dorf(path), crfkit.load_curves(str(path))):
        assert len(cs) == len(records)
        assert cs.kind == "forward"
        assert cs.name == "DoRF"
        assert cs.names == [r[0] for r in records]
        assert [m["type"] for m in cs.metadata] == [r[1] for r in records]
        for row, (_, _, values) in zip(cs.values, records):
            np.testing.assert_array_equal(row, expected_parse(values, fmt))


@given(records=dorf_records(max_records=2))
def test_dorf_zip_equals_text(workdir, records):
    text = dorf_text(records)
    txt = fresh_path(workdir, "dorfCurves.txt")
    txt.write_text(text, encoding="latin-1", newline="")
    zpath = txt.with_suffix(".zip")
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.write(txt, "dorfCurves.txt")
    a, b = read_dorf(txt), read_dorf(zpath)
    assert a.names == b.names
    assert a.values.tobytes() == b.values.tobytes()
    assert str(zpath) in b.attrs["file"]


def _mutate_values_line(line, how):
    vals = line.split(" ")
    if how == "short":
        return " ".join(vals[:-1])
    if how == "long":
        return " ".join(vals + ["0.5"])
    if how == "word":
        vals[17] = "abc"
        return " ".join(vals)
    if how == "nan":
        vals[100] = "nan"
        return " ".join(vals)
    if how == "inf":
        vals[5] = "inf"
        return " ".join(vals)
    raise AssertionError(how)


DORF_MUTATIONS = [
    # (name, record line offset 0..5 to change, change) -> expected 1-based line = 6 r + offset + 1
    ("B count short", 5, "short"),
    ("B count long", 5, "long"),
    ("B non-number", 5, "word"),
    ("B nan", 5, "nan"),
    ("B inf", 5, "inf"),
    ("I count short", 3, "short"),
    ("I non-number", 3, "word"),
    ("I header", 2, "header"),
    ("B header", 4, "header"),
    ("I not grid", 3, "notgrid"),
]


@given(
    n=st.integers(1, 3),
    data=st.data(),
    mutation=st.sampled_from(DORF_MUTATIONS),
)
def test_dorf_malformed_names_file_and_line(workdir, n, data, mutation):
    r = data.draw(st.integers(0, n - 1), label="bad record")
    records = [(f"curve{i}", "type", monotone_curve(i)) for i in range(n)]
    lines = dorf_lines(records)
    _, offset, how = mutation
    i = 6 * r + offset
    if how == "header":
        lines[i] = "X ="
    elif how == "notgrid":
        lines[i] = " ".join("%.6e" % v for v in GRID**2)
    else:
        lines[i] = _mutate_values_line(lines[i], how)
    path = fresh_path(workdir, "dorfCurves.txt")
    path.write_text("\r\n".join(lines) + "\r\n", encoding="latin-1", newline="")
    with pytest.raises(crfkit.ParseError) as exc:
        read_dorf(path)
    msg = str(exc.value)
    assert str(path) in msg
    assert f", line {i + 1}:" in msg, msg


@pytest.mark.parametrize("drop", [0, 2, 4, 5])
def test_dorf_missing_line(tmp_path, drop):
    """A record with a line missing is not a whole number of 6-line records."""
    lines = dorf_lines([("a", "t", GRID**0.5), ("b", "t", GRID**0.4)])
    del lines[6 + drop]
    path = tmp_path / "dorfCurves.txt"
    path.write_text("\n".join(lines))
    with pytest.raises(crfkit.ParseError, match=r"line \d+") as exc:
        read_dorf(path)
    assert str(path) in str(exc.value)


def test_dorf_empty_and_unreadable(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\r\n\r\n")
    with pytest.raises(crfkit.ParseError, match="empty"):
        read_dorf(empty)
    with pytest.raises(crfkit.ParseError, match="cannot read"):
        read_dorf(tmp_path / "nope.txt")
    badzip = tmp_path / "b.zip"
    with zipfile.ZipFile(badzip, "w") as zf:
        zf.writestr("readme.md", "no curves here")
    with pytest.raises(crfkit.ParseError, match="no .txt member"):
        read_dorf(badzip)


# -- EMoR ----------------------------------------------------------------------------------------
@st.composite
def emor_case(draw):
    k = draw(st.integers(1, 5))
    inverse = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    comps = synthetic_basis(8)
    # A random rotation of the smooth components stays orthonormal and zero at the ends.
    rot, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    comps = (rot @ comps)[:k]
    comps[:, [0, -1]] = 0.0
    mean = monotone_curve(seed)
    return k, inverse, mean, comps


@given(case=emor_case(), fmt=st.sampled_from(["%e", "%.17e", "win"]), newline=st.sampled_from(["\r\n", "\n"]))
def test_emor_parses_synthetic_text(workdir, case, fmt, newline):
    k, inverse, mean, comps = case
    blocks = emor_blocks(mean, comps, inverse)
    if fmt == "win":  # the original files' 3-digit exponents, e.g. 9.775171e-004
        def fmt_one(v):
            m, e = ("%e" % v).split("e")
            return f"{m}e{e[0]}{int(e[1:]):03d}"
        lines, _ = emor_lines([(h, [fmt_one(x) for x in v]) for h, v in blocks], fmt="%s")
        parse_one = lambda v: float(fmt_one(v))  # noqa: E731
    else:
        lines, _ = emor_lines(blocks, fmt=fmt)
        parse_one = lambda v: float(fmt % v)  # noqa: E731
    text = newline.join(lines) + newline
    path = fresh_path(workdir, "invemor.txt" if inverse else "emor.txt")
    path.write_text(text, encoding="latin-1", newline="")
    for basis in (parse_emor_text(text, path), read_emor(path)):
        assert basis.kind == ("inverse" if inverse else "forward")
        assert basis.n_components == k
        assert basis.components.shape == (k, 1024)
        np.testing.assert_array_equal(basis.mean, [parse_one(v) for v in mean])
        np.testing.assert_array_equal(basis.components, [[parse_one(v) for v in c] for c in comps])
        assert str(path) in basis.source
    # The file is usable as a model basis through an explicit path.
    model = crfkit.get_model("emor", k=k, kind=basis.kind, path=path)
    np.testing.assert_allclose(model.curves(np.zeros(k))[0], basis.mean)


def _emor_good_lines(k=3, inverse=False):
    return emor_lines(emor_blocks(GRID ** (1 / 2.2), synthetic_basis(k), inverse), fmt="%e")


@given(block=st.integers(0, 4), where=st.integers(0, 255), how=st.sampled_from(["drop", "add", "word", "nan", "inf"]))
def test_emor_malformed_values_name_line(workdir, block, where, how):
    lines, header_line = _emor_good_lines(k=3)
    head = list(header_line)[block]
    i = header_line[head] + where  # 0-based index of data line `where` of the block
    vals = lines[i].split("   ")
    if how == "drop":
        del vals[-1]
        expected = header_line[head]  # a count error is reported at the block's header
    elif how == "add":
        vals.append("1.0")
        expected = header_line[head]
    else:
        vals[1] = {"word": "x1.0", "nan": "nan", "inf": "-inf"}[how]
        expected = i + 1
    lines[i] = "   ".join(vals)
    path = fresh_path(workdir, "emor.txt")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(crfkit.ParseError) as exc:
        read_emor(path)
    msg = str(exc.value)
    assert str(path) in msg
    assert f", line {expected}:" in msg, msg


@pytest.mark.parametrize(
    "change, expected_line",
    [
        ("drop E header", 1),  # numbers before the first header
        ("drop f0 header", 1),  # f0's values run into E's block: E has 2048 values
        ("drop h(2) header", None),  # h(1) gets 2048 values: reported at h(1)'s header
        ("duplicate h(1)", None),
        ("grid", None),
    ],
)
def test_emor_malformed_headers(tmp_path, change, expected_line):
    lines, header_line = _emor_good_lines(k=3)
    if change == "drop E header":
        del lines[header_line["E ="] - 1]
    elif change == "drop f0 header":
        del lines[header_line["f0 ="] - 1]
    elif change == "drop h(2) header":
        del lines[header_line["h(2)="] - 1]
        expected_line = header_line["h(1)="]
    elif change == "duplicate h(1)":
        lines[header_line["h(3)="] - 1] = "h(1)= "
        expected_line = header_line["h(3)="]
    elif change == "grid":
        lines[header_line["E ="]] = "0.5   0.5   0.5   0.5"
        expected_line = header_line["E ="]
    path = tmp_path / "emor.txt"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(crfkit.ParseError) as exc:
        read_emor(path)
    assert str(path) in str(exc.value)
    assert f", line {expected_line}:" in str(exc.value)


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "no blocks"),
        ("E = \n" + "\n".join(["0 0 0 0"] * 256), r"no 'f0 =' or 'g0 =' block"),
    ],
)
def test_emor_structurally_wrong(tmp_path, text, match):
    path = tmp_path / "emor.txt"
    path.write_text(text)
    with pytest.raises(crfkit.ParseError, match=match) as exc:
        read_emor(path)
    assert str(path) in str(exc.value)


def test_emor_without_components(tmp_path):
    lines, header_line = emor_lines(emor_blocks(GRID**0.5, np.zeros((0, 1024))), fmt="%e")
    path = tmp_path / "emor.txt"
    path.write_text("\n".join(lines))
    with pytest.raises(crfkit.ParseError, match=r"no 'h\(1\)=' block"):
        read_emor(path)


def test_emor_unreadable(tmp_path):
    with pytest.raises(crfkit.ParseError, match="cannot read"):
        read_emor(tmp_path / "missing.txt")
