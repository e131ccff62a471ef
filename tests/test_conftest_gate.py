"""The real-data gate in conftest.py: skip when CRFKIT_DATA is unset, fail when set but empty."""

from pathlib import Path

import pytest

# Imported here, before pytester's in-process runs: modules first imported inside
# an inner run are dropped from sys.modules afterwards, and numpy cannot be
# imported twice in one process.
import crfkit.data  # noqa: F401

CONFTEST = Path(__file__).with_name("conftest.py")
HELPERS = Path(__file__).with_name("_helpers.py")

INNER_TESTS = """
import pytest

@pytest.mark.realdata
def test_needs_all_files():
    pass

@pytest.mark.realdata("dorfCurves.txt")
def test_needs_dorf_only():
    pass

def test_plain():
    pass
"""


@pytest.fixture
def inner(pytester):
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(_helpers=HELPERS.read_text(), test_inner=INNER_TESTS)
    pytester.makeini("[pytest]\nmarkers =\n    realdata: needs the real data under CRFKIT_DATA\n")
    return pytester


def test_unset_skips(inner, monkeypatch):
    monkeypatch.delenv("CRFKIT_DATA", raising=False)
    res = inner.runpytest_inprocess("-p", "no:cacheprovider")
    res.assert_outcomes(passed=1, skipped=2)


def test_set_but_missing_fails(inner, monkeypatch, tmp_path):
    monkeypatch.setenv("CRFKIT_DATA", str(tmp_path))  # exists, holds nothing
    res = inner.runpytest_inprocess("-p", "no:cacheprovider")
    outcomes = res.parseoutcomes()
    assert outcomes.get("skipped", 0) == 0
    assert outcomes.get("passed", 0) == 1
    assert outcomes.get("failed", 0) + outcomes.get("errors", outcomes.get("error", 0)) == 2
    assert res.ret != 0
    res.stdout.fnmatch_lines(["*CRFKIT_DATA=*is set but the real data is missing*dorfCurves.txt*"])


def test_set_with_some_files(inner, monkeypatch, tmp_path):
    # Only DoRF present (the gate checks presence; the content is not read here).
    (tmp_path / "dorf").mkdir()
    (tmp_path / "dorf" / "dorfCurves.txt").write_text("x")
    monkeypatch.setenv("CRFKIT_DATA", str(tmp_path))
    res = inner.runpytest_inprocess("-p", "no:cacheprovider")
    outcomes = res.parseoutcomes()
    assert outcomes.get("passed", 0) == 2  # test_plain and test_needs_dorf_only
    assert outcomes.get("failed", 0) + outcomes.get("errors", outcomes.get("error", 0)) == 1
    res.stdout.fnmatch_lines(["*missing there: dorfCurves.zip, emor.txt, invemor.txt*"])


def test_session_ignores_user_cache(tmp_path):
    """The session's cache is an empty folder and downloads are off."""
    import os

    from crfkit.data.paths import cache_dir

    assert os.environ.get("CRFKIT_OFFLINE") == "1"
    assert cache_dir() == Path(os.environ["CRFKIT_CACHE"])
    assert not any(cache_dir().iterdir())
