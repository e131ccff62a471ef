"""A manifest field of the wrong type or range is refused in one line that names the field.

``crfkit build-dataset MANIFEST`` checks every field when it reads the manifest (before any
camera is built): a bad one ends the command with exit status 2 and one line naming the file,
the camera and the field, never a traceback (formerly a ``ValueError``/``TypeError`` from deep
inside, sometimes re-raised by joblib).  A camera given through the Python API with a bad
layout is listed as failed with the field named while the other cameras are built.  No real
data is needed: the manifests fail before any file is read, and the builds use synthetic charts.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from crfkit.cli import main
from crfkit.errors import ParseError, ValidationError

ONE = '[[camera]]\nname = "a"\nkind = "single"\njpeg = "a.jpg"\n'
PAIR = '[[camera]]\nname = "a"\npairs = [["a.jpg", "a.png"]]\n'
CORNERS = "corners = [[0, 0], [600, 0], [600, 400], [0, 400]]"

# (id, manifest text, extra CLI arguments, what the one error line must contain)
CASES = [
    # top-level tables and arrays
    ("dataset-string", 'camera = 5\ndataset = "x"\n', [], "[dataset] must be a table, got 'x'"),
    ("dataset-int", "dataset = 5\n" + ONE, [], "[dataset] must be a table, got 5"),
    ("dataset-array", "dataset = [1, 2]\n" + ONE, [], "[dataset] must be a table"),
    ("camera-int", "camera = 5\n", [], "camera must be an array of tables"),
    ("camera-table", '[camera]\nname = "a"\n', [], "camera must be an array of tables"),
    ("camera-items", "camera = [1, 2]\n", [], "camera must be an array of tables"),
    ("top-level-typo", 'name = "x"\n' + ONE, [], "unknown top-level key 'name'"),
    # [dataset] fields
    ("dataset-name", "[dataset]\nname = 5\n" + ONE, [], "name must be a non-empty string, got 5"),
    ("dataset-root", "[dataset]\nroot = 5\n" + ONE, [], "root must be a non-empty string"),
    ("dataset-date", "[dataset]\ndate = 2024-01-01\n" + ONE, [], "date must be a string, number"),
    ("dataset-layout", "[dataset]\nlayout = 5\n" + ONE, [], "layout must be"),
    ("dataset-layout-grid", '[dataset]\nlayout = { grid = "x" }\n' + ONE, [], "layout.grid must be a table"),
    # camera fields
    ("name-int", '[[camera]]\nname = 5\npairs = [["a.jpg", "a.png"]]\n', [], "name must be a string, got 5"),
    ("folder-int", PAIR + "folder = 5\n", [], "folder must be a string"),
    ("year-bool", PAIR + "year = true\n", [], "year must be an integer"),
    ("k-string", ONE + 'k = "abc"\n', [], "k must be a positive integer, got 'abc'"),
    ("k-negative", ONE + "k = -5\n", [], "k must be a positive integer, got -5"),
    ("k-float", ONE + "k = 4.5\n", [], "k must be a positive integer, got 4.5"),
    ("method", ONE + 'method = "foo"\n', [], "method must be one of"),
    ("camera-key-typo", PAIR + 'layuot = "detect"\n', [], "camera 'a': unknown key 'layuot'"),
    ("camera-key-typo-unnamed", '[[camera]]\nnmae = "a"\npairs = [["a.jpg", "a.png"]]\n', [],
     "camera 1: unknown key 'nmae'"),
    ("camera-key-of-another-kind", ONE + 'pairs = [["a.jpg", "a.png"]]\n', [],
     "camera 'a': pairs is for kind 'raw+jpeg' cameras, and this one's kind is 'single'"),
    ("pairs-string", '[[camera]]\nname = "a"\npairs = "abc"\n', [], "pairs must be an array"),
    ("pairs-short", '[[camera]]\nname = "a"\npairs = [["a.jpg"]]\n', [], "pairs item 1 must be a [jpeg, raw]"),
    ("pairs-int", '[[camera]]\nname = "a"\npairs = [["a.jpg", 5]]\n', [], "pairs item 1 must be a [jpeg, raw]"),
    ("jpeg-int", '[[camera]]\nname = "a"\nkind = "single"\njpeg = 5\n', [], "jpeg must be a file name"),
    ("shots-string", '[[camera]]\nname = "a"\nkind = "bracket"\nshots = "x"\n', [], "shots must be an array"),
    ("shots-item", '[[camera]]\nname = "a"\nkind = "bracket"\nshots = ["a.jpg"]\n', [], "shots item 1 must be a table"),
    ("shots-exposure", '[[camera]]\nname = "a"\nkind = "bracket"\nshots = [{ jpeg = "a.jpg", exposure = "x" }]\n',
     [], "shots item 1: exposure must be a positive number"),
    ("shots-exposure-negative",
     '[[camera]]\nname = "a"\nkind = "bracket"\nshots = [{ jpeg = "a.jpg", exposure = -1.0 }]\n',
     [], "exposure must be a positive number"),
    ("shots-typo", '[[camera]]\nname = "a"\nkind = "bracket"\nshots = [{ jpeg = "a.jpg", exposre = 1 }]\n',
     [], "'exposre' is not a field of a shot"),
    # per-camera layouts (formerly AttributeError / TypeError tracebacks, through joblib with -j 2)
    ("layout-grid-string", ONE + 'layout = { grid = "x" }\n', ["-j", "2"],
     "layout.grid must be a table with rows and cols, got 'x'"),
    ("layout-grid-rows", ONE + 'layout = { grid = { rows = "x", cols = 6 } }\n', ["-j", "2"],
     "layout.grid.rows must be a positive integer, got 'x'"),
    ("layout-grid-margin", ONE + "layout = { grid = { rows = 4, cols = 6, margin = 0.7 } }\n", [],
     "layout.grid.margin must be a number in [0, 0.5)"),
    ("layout-grid-typo", ONE + "layout = { grid = { rows = 4, colls = 6 } }\n", [], "layout.grid.colls is not a field"),
    ("layout-fraction", ONE + f'layout = {{ {CORNERS}, rows = 4, cols = 6, sample_fraction = "x" }}\n', ["-j", "2"],
     "layout.sample_fraction must be a number in (0, 1], got 'x'"),
    ("layout-corners-string", ONE + 'layout = { corners = "x" }\n', [], "layout.corners must be 4 [x, y] points"),
    ("layout-corners-short", ONE + "layout = { corners = [[1, 2], [3, 4]] }\n", [], "layout.corners must be 4"),
    ("layout-rows", ONE + f"layout = {{ {CORNERS}, rows = 0, cols = 6 }}\n", [], "layout.rows must be a positive integer"),
    ("layout-cols-bool", ONE + f"layout = {{ {CORNERS}, rows = 4, cols = true }}\n", [], "layout.cols must be a positive"),
    ("layout-typo", ONE + f"layout = {{ {CORNERS}, sample_fration = 0.4 }}\n", [], "layout.sample_fration is not a field"),
    ("layout-tags", ONE + "layout = { tags = 5 }\n", [], "layout.tags must be the path of a tags.json"),
    ("layout-two-forms", ONE + f'layout = {{ {CORNERS}, tags = "t.json" }}\n', [], "exactly one of corners, tags or grid"),
    ("layout-int", ONE + "layout = 5\n", [], "layout must be 'detect'"),
    # command-line values
    ("jobs-negative", ONE, ["-j", "-5"], "-j (n_jobs) must be >= 1"),
    ("k-option", ONE, ["-k", "0"], "-k must be a positive integer, got 0"),
]


def _inputs(folder):
    """The files the manifests name exist (unreadable), so a missing file cannot hide a field error."""
    for f in ("a.jpg", "a.png", "b.jpg"):
        (folder / f).write_bytes(b"not an image")


def _run(tmp_path, capsys, text, extra):
    _inputs(tmp_path)
    m = tmp_path / "bad.toml"
    m.write_text(text)
    capsys.readouterr()
    rc = main(["build-dataset", str(m), "-o", str(tmp_path / "out.crfs"), "--quiet", *extra])
    return rc, capsys.readouterr().err


@pytest.mark.parametrize("text, extra, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_field_is_one_line_naming_the_field(tmp_path, capsys, text, extra, expected):
    rc, err = _run(tmp_path, capsys, text, extra)
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("crfkit build-dataset: error: "), lines
    assert expected in lines[0], lines
    if not expected.startswith("-"):  # a manifest problem (not an option's) names the manifest
        assert "bad.toml" in lines[0], lines
    assert not list(tmp_path.glob("out.crfs*")), "nothing is written for a refused manifest"


def test_unknown_camera_key_lists_the_accepted_keys(tmp_path, capsys):
    rc, err = _run(tmp_path, capsys, PAIR + "yaer = 2004\n", [])
    assert rc == 2 and "bad.toml: camera 'a': unknown key 'yaer'" in err, err
    assert "name, kind, year, folder, layout, pairs, shots, jpeg, method, k" in err, err


def test_camera_errors_name_the_camera(tmp_path, capsys):
    rc, err = _run(tmp_path, capsys, ONE + '\n[[camera]]\nname = "b"\nkind = "single"\njpeg = "b.jpg"\nk = "x"\n', [])
    assert rc == 2 and "camera 'b': k must be a positive integer" in err, err


def test_console_script_with_jobs_prints_no_traceback(tmp_path):
    """The reported case end to end: the real console script, -j 2, a bad layout field."""
    _inputs(tmp_path)
    m = tmp_path / "bad.toml"
    m.write_text(ONE + 'layout = { grid = { rows = "x", cols = 6 } }\n')
    r = subprocess.run([sys.executable, "-m", "crfkit", "build-dataset", str(m), "-o", str(tmp_path / "o.crfs"),
                        "-j", "2", "--quiet"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "layout.grid.rows" in lines[0] and "Traceback" not in r.stderr, r.stderr


def test_valid_manifest_fields_still_load(tmp_path):
    from crfkit.dcrf import load_manifest

    (tmp_path / "charts").mkdir()
    m = tmp_path / "ok.toml"
    m.write_text(f'''
[dataset]
name = "ok"
description = ""
root = "charts"
layout = {{ tags = "tags.json" }}
extra = {{ note = "kept", values = [1, 2.5, true] }}

[[camera]]
name = "pairs"
year = 2004
pairs = [["a.jpg", "a.png"]]
k = 5
method = "emor"

[[camera]]
name = "grid"
kind = "bracket"
layout = {{ grid = {{ rows = 4, cols = 6, margin = 0.05, sample_fraction = 0.4 }} }}
shots = [{{ jpeg = "s1.jpg" }}, {{ jpeg = "s2.jpg", exposure = 2 }}]

[[camera]]
name = "corners"
kind = "single"
jpeg = "c.jpg"
layout = {{ {CORNERS}, rows = 4, cols = 6, sample_fraction = 0.5 }}

[[camera]]
name = "detect"
kind = "single"
jpeg = "d.jpg"
layout = "detect"
''')
    attrs, cams = load_manifest(m)
    root = (tmp_path / "charts").resolve()
    assert attrs["extra"]["values"] == [1, 2.5, True]
    assert [c.name for c in cams] == ["pairs", "grid", "corners", "detect"]
    assert cams[0].layout == {"tags": str(root / "tags.json")}, "a {tags = PATH} is relative to root"
    assert cams[0].options == {"k": 5, "method": "emor"} and cams[0].year == 2004
    assert cams[1].inputs == [(root / "s1.jpg", None), (root / "s2.jpg", 2.0)]
    assert cams[3].layout == "detect"


def test_layout_constructors_name_the_field():
    from crfkit.calibration import as_layout
    from crfkit.charts import ChartLayout

    corners = [[0, 0], [600, 0], [600, 400], [0, 400]]
    with pytest.raises(ValidationError, match="rows must be a positive integer, got 'x'"):
        ChartLayout.grid(rows="x")
    with pytest.raises(ValidationError, match="margin must be a number"):
        ChartLayout.grid(margin="x")
    with pytest.raises(ValidationError, match="cols must be a positive integer, got 0"):
        ChartLayout.grid(cols=0)
    with pytest.raises(ValidationError, match="corners must be 4"):
        ChartLayout.from_corners("x")
    with pytest.raises(ValidationError, match="sample_fraction must be a number"):
        ChartLayout.from_corners(corners, sample_fraction="x")
    with pytest.raises(ValidationError, match=r"cam: layout\.grid must be a table with rows and cols, got 'x'"):
        as_layout({"grid": "x"}, name="cam")
    assert ChartLayout.from_corners(corners, 4.0, 6).rows == 4  # an integral float is still accepted
    assert as_layout({"grid": {"rows": 2, "cols": 3}}).n_patches == 6


def test_jobs_values():
    from crfkit.dcrf.build import check_jobs

    assert check_jobs(1) == 1 and check_jobs(-1) == -1 and check_jobs(np.int64(3)) == 3
    for bad in (0, -2, -5, 1.0, True, "2"):
        with pytest.raises(ValidationError, match="-j"):
            check_jobs(bad)


def test_manifest_errors_are_parse_errors(tmp_path):
    from crfkit.dcrf import load_manifest

    m = tmp_path / "bad.toml"
    m.write_text('camera = 5\ndataset = "x"\n')
    with pytest.raises(ParseError, match=r"bad\.toml: \[dataset\] must be a table"):
        load_manifest(m)


@pytest.fixture(scope="module")
def charts(tmp_path_factory):
    """Two synthetic single-JPEG ColorChecker cameras and the chart's corners."""
    cv2 = pytest.importorskip("cv2")
    pytest.importorskip("colour")
    import crfkit
    from crfkit.calibration.synthetic import camera_jpeg, render_chart
    from crfkit.charts import colorchecker_reference

    d = tmp_path_factory.mktemp("charts")
    lin, lay = render_chart(colorchecker_reference())
    for i, g in enumerate((1.8, 2.6)):
        img = camera_jpeg(lin, crfkit.Curve.gamma(g), exposure=0.85, seed=i, quality=None)
        assert cv2.imwrite(str(d / f"c{i}.jpg"), img[..., ::-1], [int(cv2.IMWRITE_JPEG_QUALITY), 90])
    return d, lay.corners.tolist()


BAD_LAYOUTS = [
    ({"grid": "x"}, "layout.grid must be a table"),
    ({"grid": {"rows": "x", "cols": 6}}, "layout.grid.rows"),
    ({"corners": [[1, 2], [3, 4], [5, 6], [7, 8]], "rows": 4, "cols": 6, "sample_fraction": "x"},
     "layout.sample_fraction"),
    ({"corners": "x"}, "layout.corners"),
]


@pytest.mark.parametrize("layout, field", BAD_LAYOUTS, ids=["grid", "grid-rows", "fraction", "corners"])
def test_api_camera_with_bad_layout_fails_alone(charts, tmp_path, layout, field):
    """Through the API (no manifest check), a bad layout fails its camera; the other one is built."""
    from crfkit.dcrf import CameraSpec, build_dataset

    d, corners = charts
    good = CameraSpec("good", "single", [(d / "c0.jpg", 1.0)], {"corners": corners, "rows": 4, "cols": 6})
    bad = CameraSpec("bad", "single", [(d / "c1.jpg", 1.0)], layout)
    curves, failed = build_dataset([good, bad], tmp_path / "o.crfs", method="polynomial", n_jobs=2, progress=False)
    assert curves.names == ["good/R", "good/G", "good/B"]
    assert [f["camera"] for f in failed] == ["bad"] and field in failed[0]["reason"], failed
    assert "\n" not in failed[0]["reason"]


def test_cli_build_with_valid_layout_tables(charts, tmp_path, capsys):
    """The checks do not refuse valid layouts: a corners table and a per-camera k build."""
    d, corners = charts
    m = tmp_path / "ok.toml"
    m.write_text('[dataset]\nname = "ok"\n\n'
                 f'[[camera]]\nname = "a"\nkind = "single"\njpeg = {json.dumps(str(d / "c0.jpg"))}\nk = 3\n'
                 f'layout = {{ corners = {json.dumps(corners)}, rows = 4, cols = 6, sample_fraction = 0.5 }}\n')
    out = tmp_path / "ok.crfs"
    assert main(["build-dataset", str(m), "-o", str(out), "--quiet", "-j", "1", "--method", "polynomial"]) == 0, \
        capsys.readouterr().err
    assert out.is_file()
