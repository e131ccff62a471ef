"""Shared test setup.

Real data
---------
Tests that need the real DoRF / EMoR files are marked ``@pytest.mark.realdata``
(optionally with the file names they need, e.g.
``@pytest.mark.realdata("dorfCurves.txt")``; default: all four core files).
They find the data ONLY through ``CRFKIT_DATA``:

* ``CRFKIT_DATA`` unset          -> the test is skipped;
* ``CRFKIT_DATA`` set, files missing -> the test FAILS (a CI that meant to run
  the real-data tests must not silently skip them).

For the whole session the user cache is replaced by an empty folder and
downloads are disabled, so no test can pass by finding data anywhere else.

Hypothesis
----------
Profile ``default`` keeps the suite fast; ``HYPOTHESIS_PROFILE=thorough`` runs
many more examples.
"""

import os
from pathlib import Path

import pytest
from hypothesis import settings

pytest_plugins = ["pytester"]

settings.register_profile("default", max_examples=30, deadline=None, print_blob=True)
settings.register_profile("thorough", max_examples=500, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

#: The real files the core tests use.
CORE_FILES = ("dorfCurves.txt", "dorfCurves.zip", "emor.txt", "invemor.txt")


@pytest.fixture(scope="session", autouse=True)
def _isolate_data_lookup(tmp_path_factory):
    """Empty user cache, no downloads: real data only through CRFKIT_DATA."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRFKIT_CACHE", str(tmp_path_factory.mktemp("empty-crfkit-cache")))
        mp.setenv("CRFKIT_OFFLINE", "1")
        yield


def require_real_data(files=CORE_FILES):
    """Skip when CRFKIT_DATA is unset; fail when it is set but lacks ``files``.

    Returns the CRFKIT_DATA folder.
    """
    env = os.environ.get("CRFKIT_DATA")
    if not env:
        pytest.skip("real-data test: set CRFKIT_DATA to the data folder to run it")
    from crfkit.data import find_data_file
    from crfkit.errors import DataNotFoundError

    missing = []
    for name in files:
        try:
            find_data_file(name, download=False)
        except DataNotFoundError:
            missing.append(name)
    if missing:
        pytest.fail(
            f"CRFKIT_DATA={env!r} is set but the real data is missing there: {', '.join(missing)}",
            pytrace=False,
        )
    return Path(env)


@pytest.fixture(autouse=True)
def _realdata_gate(request):
    marker = request.node.get_closest_marker("realdata")
    if marker is not None:
        require_real_data(tuple(marker.args) or CORE_FILES)


@pytest.fixture(scope="session")
def dorf():
    """DoRF as loaded by crfkit from CRFKIT_DATA (loaded once)."""
    require_real_data(("dorfCurves.txt",))
    import crfkit

    return crfkit.load_curves("dorf")


@pytest.fixture(scope="session")
def emor_dir(tmp_path_factory):
    """A folder with a synthetic (but valid) emor.txt and invemor.txt, 25 components.

    Lets the EMoR code paths run without the real data.
    """
    from _helpers import write_emor_pair

    d = tmp_path_factory.mktemp("synthetic-emor")
    write_emor_pair(d)
    return d


# OpenImageIO (imported by colour-science) is a nanobind extension that prints ~30 lines of
# "nanobind: leaked ..." at interpreter exit, after pytest's summary.  The outermost pytest
# run therefore ends the process right after its own last hook, once everything is written,
# so the summary stays the last line.  In-process pytester runs are never the outermost.
_OUTER_FLAG = "_CRFKIT_OUTER_PYTEST_PID"


def pytest_configure(config):
    if os.environ.get(_OUTER_FLAG) is None:
        os.environ[_OUTER_FLAG] = str(os.getpid())
        config._crfkit_outermost = True


def pytest_sessionfinish(session, exitstatus):
    session.config._crfkit_exitstatus = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    import sys

    if not getattr(config, "_crfkit_outermost", False) or "OpenImageIO" not in sys.modules:
        return
    if os.environ.get(_OUTER_FLAG) != str(os.getpid()):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(getattr(config, "_crfkit_exitstatus", 0))
