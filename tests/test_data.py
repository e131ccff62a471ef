"""Data lookup: explicit path -> $CRFKIT_DATA -> user cache -> download; missing data errors.

All on synthetic files: no test here reads the real data or the network.
"""

import numpy as np
import pytest

import crfkit
import crfkit.data.paths as paths
from crfkit.data import find_data_file, load_curves, load_dorf, load_emor
from _helpers import GRID, dorf_text, write_emor_pair


def _write_dorf(folder, name, sub="dorf", exponent=0.5):
    d = folder / sub if sub else folder
    d.mkdir(parents=True, exist_ok=True)
    p = d / "dorfCurves.txt"
    p.write_text(dorf_text([(name, "t", GRID**exponent)]), newline="")
    return p


@pytest.fixture
def no_download(monkeypatch):
    """Fail the test if a download is attempted."""

    def boom(entry):
        raise AssertionError(f"download of {entry.name} attempted")

    monkeypatch.setattr(paths, "_download", boom)


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """Empty CRFKIT_DATA and cache folders, offline; returns (data, cache)."""
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    cache.mkdir()
    monkeypatch.setenv("CRFKIT_DATA", str(data))
    monkeypatch.setenv("CRFKIT_CACHE", str(cache))
    monkeypatch.setenv("CRFKIT_OFFLINE", "1")
    return data, cache


def test_lookup_order(isolated, tmp_path, no_download):
    data, cache = isolated
    _write_dorf(cache, "from-cache")
    assert load_dorf().names == ["from-cache"]
    _write_dorf(data, "from-env", sub="")  # directly in CRFKIT_DATA also counts
    assert load_dorf().names == ["from-env"]
    _write_dorf(data, "from-env-sub", sub="dorf")  # the usual sub-folder comes first
    assert load_curves("dorf").names == ["from-env-sub"]
    explicit = _write_dorf(tmp_path / "elsewhere", "explicit", sub="")
    assert load_dorf(explicit).names == ["explicit"]  # a file
    assert load_dorf(explicit.parent).names == ["explicit"]  # or a folder
    assert load_curves("dorf", path=explicit).names == ["explicit"]
    assert load_curves(str(explicit)).names == ["explicit"]  # a DoRF file by path


def test_lookup_order_zip_and_reload(isolated, no_download):
    import zipfile

    data, _ = isolated
    (data / "dorf").mkdir()
    with zipfile.ZipFile(data / "dorf" / "dorfCurves.zip", "w") as zf:
        zf.writestr("dorfCurves.txt", dorf_text([("zipped", "t", GRID**0.7)]))
    assert load_dorf().names == ["zipped"]  # the zip as distributed is enough
    # the text file is preferred when both exist, and a changed file is re-read
    p = _write_dorf(data, "text")
    assert load_dorf().names == ["text"]
    import os
    import time

    p.write_text(dorf_text([("changed", "t", GRID**0.7)]), newline="")
    later = time.time() + 5
    os.utime(p, (later, later))
    assert load_dorf().names == ["changed"]


def test_invdorf_is_inverse_of_dorf(isolated, no_download):
    data, _ = isolated
    _write_dorf(data, "c", exponent=0.45)
    inv = load_curves("invdorf")
    assert inv.kind == "inverse" and inv.name == "invDoRF" and inv.names == ["c"]
    np.testing.assert_allclose(inv.values, load_curves("dorf").inverse().values)
    np.testing.assert_allclose(inv.values[0], GRID ** (1 / 0.45), atol=2e-3)


def test_emor_lookup(isolated, no_download):
    data, _ = isolated
    (data / "singlehdr_emor").mkdir()
    write_emor_pair(data / "singlehdr_emor", n_components=6)
    fwd, inv = load_emor(), load_emor(inverse=True)
    assert fwd.kind == "forward" and inv.kind == "inverse"
    assert fwd.n_components == inv.n_components == 6
    # k beyond the components of the basis on disk
    with pytest.raises(crfkit.ValidationError, match="exceeds the 6 components"):
        crfkit.fit(GRID**0.5, "emor", k=7)
    assert crfkit.fit(GRID**0.5, "emor", k=6).rmse < 0.05


@pytest.mark.parametrize("env_set", [True, False])
@pytest.mark.parametrize(
    "load",
    [
        lambda: load_curves("dorf"),
        lambda: load_curves("invdorf"),
        lambda: load_emor(),
        lambda: load_emor(inverse=True),
        lambda: crfkit.fit(GRID**0.5, "emor", k=5),
        lambda: crfkit.fit(GRID**0.5, "pca", k=3, basis="dorf"),
    ],
    ids=["dorf", "invdorf", "emor", "invemor", "fit-emor", "fit-pca-dorf"],
)
def test_missing_data_message(monkeypatch, tmp_path, no_download, load, env_set):
    empty = tmp_path / "empty"
    empty.mkdir()
    cache = tmp_path / "cache"
    cache.mkdir()
    if env_set:
        monkeypatch.setenv("CRFKIT_DATA", str(empty))
    else:
        monkeypatch.delenv("CRFKIT_DATA", raising=False)
    monkeypatch.setenv("CRFKIT_CACHE", str(cache))
    monkeypatch.setenv("CRFKIT_OFFLINE", "1")
    with pytest.raises(crfkit.DataNotFoundError) as exc:
        load()
    msg = str(exc.value)
    assert isinstance(exc.value, crfkit.CrfkitError)
    assert "CRFKIT_DATA" in msg
    assert "\n" not in msg  # one line
    if env_set:
        assert str(empty) in msg
    else:
        assert "set CRFKIT_DATA" in msg and "path=" in msg


def test_download_tried_last_and_failure_reported(monkeypatch, tmp_path):
    """Online, a missing file is downloaded into the cache; a failed download is a DataNotFoundError."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("CRFKIT_DATA", str(tmp_path / "nothing-here"))
    monkeypatch.setenv("CRFKIT_CACHE", str(cache))
    monkeypatch.delenv("CRFKIT_OFFLINE", raising=False)
    calls = []

    def fake_download(entry):
        calls.append(entry.name)
        return None  # as when there is no network

    monkeypatch.setattr(paths, "_download", fake_download)
    with pytest.raises(crfkit.DataNotFoundError, match="could not be downloaded"):
        find_data_file("emor.txt")
    assert calls == ["emor.txt"]

    def fake_ok(entry):
        target = cache / entry.subdirs[0]
        target.mkdir(parents=True, exist_ok=True)
        write_emor_pair(target, n_components=2)
        return target / entry.name

    monkeypatch.setattr(paths, "_download", fake_ok)
    assert load_emor().n_components == 2
    # now it is in the cache: found without downloading
    monkeypatch.setattr(paths, "_download", lambda e: pytest.fail("downloaded twice"))
    assert find_data_file("emor.txt") == cache / "singlehdr_emor" / "emor.txt"
    assert find_data_file("emor.txt", download=False).is_file()


def test_offline_download_never_tried(isolated, no_download):
    with pytest.raises(crfkit.DataNotFoundError):
        find_data_file("dorfCurves.txt")


def test_explicit_path_missing(tmp_path, no_download):
    with pytest.raises(crfkit.DataNotFoundError, match="path given"):
        load_dorf(tmp_path / "nope.txt")
    with pytest.raises(crfkit.DataNotFoundError, match="path given"):
        load_emor(path=tmp_path)  # a folder without the file


def test_unknown_names():
    with pytest.raises(crfkit.UnknownNameError, match="known: "):
        find_data_file("curves.bin")
    with pytest.raises(crfkit.UnknownNameError, match="dorf, invdorf") as exc:
        load_curves("dcrf")
    assert isinstance(exc.value, KeyError)  # also a KeyError for generic handlers


def test_corrupt_data_file_in_crfkit_data(isolated, no_download):
    data, _ = isolated
    (data / "dorf").mkdir()
    bad = data / "dorf" / "dorfCurves.txt"
    bad.write_text("name\ntype\nI =\n0 1 2\nB =\n0 1 2\n")
    with pytest.raises(crfkit.ParseError) as exc:
        load_dorf()
    assert str(bad) in str(exc.value) and "line 4" in str(exc.value)


def test_checksum_verification(tmp_path):
    p = tmp_path / "emor.txt"
    p.write_text("not the official file")
    with pytest.raises(crfkit.ChecksumError, match="does not match"):
        paths.verify(p)
    assert paths.verify(tmp_path / "emor.txt", name="unregistered.bin") is None


def test_data_report(isolated):
    data, _ = isolated
    _write_dorf(data, "x")
    report = crfkit.data.data_report()
    assert report["dorfCurves.txt"] == str(data / "dorf" / "dorfCurves.txt")
    assert report["emor.txt"] is None
