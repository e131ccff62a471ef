"""No command replaces the files it reads, and a few option mistakes are refused up front.

Every command that writes files refuses, before any work, an output that names one of its
inputs (the same file however it is spelled: a relative detour, a symbolic link), with one
line on stderr (``crfkit CMD: error: ...`` naming the file), exit status 2 and the input's
bytes unchanged.  The commands run in-process through ``crfkit.cli.main``; the inputs are
small synthetic images and curve sets written in ``tmp_path``, and the refusals come before
any model is loaded or image read.
"""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

import crfkit
from crfkit.cli import main
from crfkit.io.images import write_image
from test_cli_bad_input import run




def refused(rc, err, command, *fragments):
    """Exit 2, one line ``crfkit CMD: error: ...`` holding every fragment, no traceback."""
    assert "Traceback" not in err, err
    assert rc == 2, (rc, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"crfkit {command}: error: "), lines[0]
    for fragment in fragments:
        assert str(fragment) in lines[0], (fragment, lines[0])
    return lines[0]


def contents(folder):
    """Every file under ``folder`` with its bytes (symbolic links by their target)."""
    return {str(p.relative_to(folder)): (os.readlink(p) if p.is_symlink() else p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file() or p.is_symlink()}


@pytest.fixture
def d(tmp_path, monkeypatch):
    """Photos (8-bit PNG and TIFF, 16-bit TIFF), a bracket folder, curve sets, a curve .json."""
    monkeypatch.chdir(tmp_path)  # the commands get relative names, as a user types them
    rng = np.random.RandomState(0)
    y, x = np.mgrid[0:48, 0:64] / 64.0
    base = np.stack([0.8 * x + 0.1, 0.7 * y + 0.2, (x + y) / 2.5 + 0.05], axis=-1)
    write_image(tmp_path / "p8.png", (base ** (1 / 2.2) * 255).astype(np.uint8))
    write_image(tmp_path / "p8.tif", (base ** (1 / 2.2) * 255).astype(np.uint8))
    write_image(tmp_path / "p16.tif", (rng.rand(16, 20, 3) * 60000).astype(np.uint16))
    write_image(tmp_path / "white.png", np.full((16, 20, 3), 255, np.uint8))
    (tmp_path / "br").mkdir()
    for i, t in enumerate((1.0, 0.5, 0.25)):
        write_image(tmp_path / "br" / f"b{i}.png", (np.clip(1.5 * t * base, 0, 1) ** (1 / 2.2) * 255).astype(np.uint8))
    curves = [crfkit.Curve.gamma(g) for g in (1.8, 2.0, 2.2, 2.4)]
    crfkit.CurveSet.from_curves(curves).save(tmp_path / "cs.crfs")
    crfkit.CurveSet.from_curves(curves[:1]).save(tmp_path / "good.crfs")
    g = crfkit.Curve.gamma(2.2).inverse()
    (tmp_path / "e.json").write_text('{"kind": "inverse", "name": "e", "values": [%s]}\n'
                                     % ", ".join(f"{v:.8g}" for v in g.values))
    (tmp_path / "sub").mkdir()
    return tmp_path


# -- an output that names an input ---------------------------------------------------------------
SAME_FILE = [
    # (id, command line, the option refused, the input it names)
    ("linearize", "linearize p16.tif --curve srgb -o p16.tif", "-o", "p16.tif"),
    ("linearize-detour", "linearize p16.tif --curve srgb -o sub/../p16.tif", "-o", "p16.tif"),
    ("linearize-absolute", "linearize p16.tif --curve srgb -o {d}/p16.tif", "-o", "p16.tif"),
    ("linearize-curve-file", "linearize p16.tif --curve good.crfs --curve-index 0 -o p16.tif", "-o", "p16.tif"),
    ("restore", "restore p8.tif --method clip -o p8.tif", "-o", "p8.tif"),
    ("estimate-plot", "estimate p8.png --plot p8.png", "--plot", "p8.png"),
    ("estimate-plot-batch", "estimate br --plot br/b1.png", "--plot", "b1.png"),
    ("calibrate-plot", "calibrate br --times 1 0.5 0.25 -o br.crfs --plot br/b0.png", "--plot", "b0.png"),
    ("calibrate-plot-files", "calibrate br/b0.png br/b1.png br/b2.png --times 1 0.5 0.25 --plot ./br/../br/b1.png",
     "--plot", "b1.png"),
    ("calibrate-basis", "calibrate br --times 1 0.5 0.25 --model pca --basis cs.crfs -o cs.crfs", "-o", "cs.crfs"),
    ("fit-json", "fit e.json --save e.json", "--save", "e.json"),
    ("fit-crfs", "fit good.crfs --save good.crfs", "--save", "good.crfs"),
    ("fit-crfs-detour", "fit good.crfs --save sub/../good.crfs", "--save", "good.crfs"),
    ("fit-basis", "fit good.crfs -m pca -k 2 --basis cs.crfs --save cs.crfs", "--save", "cs.crfs"),
    ("table-curves", "table --curves cs.crfs --pca-from --columns Gamma --cv-folds 0 -o cs.crfs", "-o", "cs.crfs"),
    ("table-pca-from", "table --curves cs.crfs --pca-from good.crfs --columns Gamma -o good.crfs", "-o", "good.crfs"),
]


@pytest.mark.parametrize("argv, option, source", [s[1:] for s in SAME_FILE], ids=[s[0] for s in SAME_FILE])
def test_output_naming_an_input_is_refused(capsys, d, argv, option, source):
    before = contents(d)
    rc, _, err = run(capsys, argv.format(d=d).split())
    line = refused(rc, err, argv.split()[0], f"{option} ", "would overwrite", source, "choose another name")
    assert line.index(option) < line.index("would overwrite")
    assert contents(d) == before, "an input was changed or a file created"


@pytest.mark.skipif(not hasattr(os, "symlink") or sys.platform == "win32", reason="symbolic links")
@pytest.mark.parametrize("argv, link_to", [
    ("linearize p16.tif --curve srgb -o link.tif", "p16.tif"),
    ("restore p8.tif --method clip -o link.tif", "p8.tif"),
    ("fit good.crfs --save link.crfs", "good.crfs"),
], ids=["linearize", "restore", "fit"])
def test_output_linked_to_an_input_is_refused(capsys, d, argv, link_to):
    link = d / argv.split()[-1]
    link.symlink_to(link_to)
    before = contents(d)
    rc, _, err = run(capsys, argv.split())
    refused(rc, err, argv.split()[0], link.name, "would overwrite", link_to)
    assert contents(d) == before


def test_batch_output_folder_of_the_inputs_is_still_refused(capsys, d):
    """The batch check (one output per input in the -o folder) keeps its wording."""
    write_image(d / "sub" / "a.tif", np.zeros((8, 8, 3), np.uint8))
    before = contents(d)
    rc, _, err = run(capsys, "linearize sub -o sub --format tif --curve srgb".split())
    refused(rc, err, "linearize", "the output sub/a.tif would overwrite the input sub/a.tif")
    assert contents(d) == before


@pytest.mark.parametrize("argv, first, second", [
    ("table --curves cs.crfs --pca-from --columns Gamma --cv-folds 0 -o t.png --plot t.png", "-o t.png",
     "--plot t.png"),
    ("table --curves cs.crfs --pca-from --columns Gamma --cv-folds 0 -o t.png --plot sub/../t.png", "-o t.png",
     "--plot sub/../t.png"),
], ids=["same-name", "detour"])
def test_two_outputs_naming_one_file_are_refused(capsys, d, argv, first, second):
    before = contents(d)
    rc, _, err = run(capsys, argv.split())
    refused(rc, err, "table", first, second, "name the same file")
    assert contents(d) == before


def test_distinct_outputs_still_work(capsys, d):
    rc, _, err = run(capsys, "linearize p16.tif --curve srgb -o sub/p16.exr".split())
    assert rc == 0, err
    assert (d / "sub" / "p16.exr").is_file()
    rc, _, err = run(capsys, "fit good.crfs -m gamma --save sub/good.crfs".split())
    assert rc == 0, err
    assert (d / "sub" / "good.crfs").is_file()


def test_an_earlier_output_beside_the_bracket_is_not_an_input(capsys, d, monkeypatch):
    """A .crfs saved in the bracket's folder by an earlier run is no input: writing it again is fine."""
    import crfkit.bracket

    class Reached(crfkit.CrfkitError):
        pass

    def reached(*a, **kw):
        raise Reached("the calibration started")

    monkeypatch.setattr(crfkit.bracket, "calibrate_bracket", reached)
    crfkit.CurveSet.from_curves([crfkit.Curve.gamma(2.2)]).save(d / "br" / "cal.crfs")
    rc, _, err = run(capsys, "calibrate br --times 1 0.5 0.25 --bootstrap 0 -o br/cal.crfs".split())
    assert rc == 2 and "the calibration started" in err, err


# -- --weights is checked before anything is written ---------------------------------------------
@pytest.mark.parametrize("argv, output", [
    ("restore p8.png --weights nope.pt -o r.exr", "r.exr"),
    ("restore white.png p8.png --weights nope.pt -o rdir", "rdir"),
    ("restore white.png --weights sub -o r.exr", "r.exr"),
], ids=["one-photo-without-clipping", "batch", "folder"])
def test_restore_refuses_bad_weights_before_any_work(capsys, d, argv, output):
    before = contents(d)
    weights = argv.split("--weights ")[1].split()[0]
    rc, _, err = run(capsys, argv.split())
    refused(rc, err, "restore", f"--weights {weights}")
    assert not (d / output).exists()
    assert contents(d) == before


# -- options that do not apply, worded as the command line's ---------------------------------------
def test_merge_refuses_half_with_hdr(capsys, d, monkeypatch):
    import crfkit.bracket

    def guard(*a, **kw):
        raise AssertionError("the bracket was read before the options were checked")

    monkeypatch.setattr(crfkit.bracket, "read_bracket", guard)
    rc, _, err = run(capsys, "merge br --crf srgb --times 1 0.5 0.25 -o m.hdr --half".split())
    refused(rc, err, "merge", "--half", ".exr")
    assert not (d / "m.hdr").exists() and not (d / "m.hdr.json").exists()


@pytest.mark.parametrize("argv, fragments, absent", [
    ("basis cs.crfs -k 0 -o b.npz", ["-k", "got 0"], "n_components"),
    ("basis cs.crfs -k 9 -o b.npz", ["-k must be in 1..3", "got 9"], "n_components"),
    ("table --curves cs.crfs --pca-k 0 -o t.md", ["--pca-k", "0"], "n_components"),
    ("fit good.crfs --pin-zero", ["--pin-zero", "emor", "polynomial"], "pin_zero"),
    ("fit good.crfs -m polynomial --basis cs.crfs", ["--basis", "polynomial", "pca"], "unknown option"),
    ("fit s3.csv", ["smaller -k"], "regularization"),
    ("fit s3.csv -m pca", ["--basis"], "basis="),
], ids=["basis-k0", "basis-k-too-large", "table-pca-k0", "fit-pin-zero", "fit-basis", "fit-too-few-samples",
        "fit-pca-no-basis"])
def test_messages_name_the_options(capsys, d, argv, fragments, absent):
    np.savetxt(d / "s3.csv", [[0.1, 0.3], [0.5, 0.7], [0.9, 0.95]], delimiter=",")
    before = contents(d)
    rc, _, err = run(capsys, argv.split())
    line = refused(rc, err, argv.split()[0], *fragments)
    assert absent not in line, line
    assert contents(d) == before


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs a /proc file system")
def test_folder_that_takes_no_files_is_described_accurately(capsys, d):
    rc, _, err = run(capsys, "fit good.crfs -m gamma --save /proc/x.crfs".split())
    line = refused(rc, err, "fit", "/proc/x.crfs", "cannot write")
    assert "cannot write in folder" not in line


def test_api_output_check_names_the_file(tmp_path, monkeypatch):
    """check_output_path: a refused probe names the file to be written and the OS's reason."""
    import errno
    import tempfile

    from crfkit._io import check_output_path

    def mkstemp(*a, **kw):
        raise OSError(errno.ENOENT, "No such file or directory")

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    with pytest.raises(crfkit.ValidationError) as info:
        check_output_path(tmp_path / "x.crfs", what="--save")
    text = str(info.value)
    assert f"--save {tmp_path / 'x.crfs'}: cannot write" in text and "No such file or directory" in text
    assert f"folder {tmp_path} takes no new files" in text


def test_export_never_replaces_its_source(tmp_path):
    """`crfkit export ex.json -o ex.json` once rewrote its own source."""
    import contextlib
    import io

    src = tmp_path / "ex.json"
    assert main(["export", "srgb", "-o", str(src)]) == 0
    before = src.read_bytes()
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(["export", str(src), "-o", str(src)])
    lines = err.getvalue().strip().splitlines()
    assert rc == 2 and len(lines) == 1 and "would overwrite the input" in lines[0], err.getvalue()
    assert src.read_bytes() == before
