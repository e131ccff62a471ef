"""Find data files: explicit path, then ``CRFKIT_DATA``, then the user cache,
then (where a network exists) a checksummed download into the cache."""

import hashlib
import os
from pathlib import Path

from .._optional import available
from ..errors import ChecksumError, DataNotFoundError, UnknownNameError
from .registry import FILES

ENV_VAR = "CRFKIT_DATA"
OFFLINE_VAR = "CRFKIT_OFFLINE"


def cache_dir():
    """The user cache folder (``$XDG_CACHE_HOME/crfkit`` or ``~/.cache/crfkit``)."""
    if os.environ.get("CRFKIT_CACHE"):
        return Path(os.environ["CRFKIT_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    return Path(base) / "crfkit"


def data_roots():
    """The folders searched, in order: ``$CRFKIT_DATA`` (if set), then the cache."""
    roots = []
    env = os.environ.get(ENV_VAR)
    if env:
        roots.append(("CRFKIT_DATA", Path(env).expanduser()))
    roots.append(("cache", cache_dir()))
    return roots


def sha256_of(path, chunk=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _candidates(root, entry):
    for sub in entry.subdirs:
        yield (root / sub / entry.name) if sub else (root / entry.name)


def find_data_file(name, path=None, download=True):
    """Locate a registered data file and return its path.

    Parameters
    ----------
    name : str
        A registered file name, e.g. ``'dorfCurves.txt'`` or ``'emor.txt'``.
    path : str or Path, optional
        Explicit file, or a folder to search (the file itself or its usual sub-folder).
    download : bool
        Try a checksummed download into the cache when nothing is found locally.

    Raises
    ------
    DataNotFoundError
        With a message saying how to point crfkit at a local copy.
    """
    if name not in FILES:
        raise UnknownNameError(f"unknown data file {name!r}; known: {', '.join(sorted(FILES))}")
    entry = FILES[name]
    looked = []
    if path is not None:
        p = Path(path).expanduser()
        if p.is_file():
            return p
        if p.is_dir():
            for c in _candidates(p, entry):
                if c.is_file():
                    return c
                looked.append(str(c))
        raise DataNotFoundError(f"{name} not found at the path given: {p}")
    for _label, root in data_roots():
        for c in _candidates(root, entry):
            if c.is_file():
                return c
            looked.append(str(c))
    if download and entry.urls and not os.environ.get(OFFLINE_VAR):
        got = _download(entry)
        if got is not None:
            return got
    env = os.environ.get(ENV_VAR)
    hint = (
        f"{ENV_VAR} is set to {env!r} but holds no {name} there or in {list(s for s in entry.subdirs if s)}"
        if env
        else f"set {ENV_VAR} to a folder holding it (e.g. export {ENV_VAR}=/path/to/data, with the file "
        f"in that folder or its '{entry.subdirs[0]}/' sub-folder) or pass path=..."
    )
    raise DataNotFoundError(f"{name} ({entry.description}) not found and could not be downloaded: {hint}")


def _download(entry):
    """Download into the cache with sha256 verification; None when offline."""
    if not available("pooch"):
        return None
    import logging

    import pooch

    pooch.get_logger().setLevel(logging.ERROR)
    target = cache_dir() / entry.subdirs[0]
    for url in entry.urls:
        try:
            fname = pooch.retrieve(
                url,
                known_hash=f"sha256:{entry.sha256}",
                fname=entry.name,
                path=target,
                progressbar=False,
                downloader=pooch.HTTPDownloader(timeout=20),
            )
            return Path(fname)
        except ValueError as exc:  # pooch raises ValueError on a hash mismatch
            if "hash" in str(exc).lower():
                raise ChecksumError(f"downloaded {entry.name} from {url} has the wrong sha256: {exc}") from None
        except Exception:  # no network, HTTP errors: fall through to the next mirror
            continue
    return None


def verify(path, name=None):
    """Check a file's sha256 against the registry; raise :class:`ChecksumError` on mismatch."""
    path = Path(path)
    entry = FILES.get(name or path.name)
    if entry is None:
        return None
    digest = sha256_of(path)
    if digest != entry.sha256:
        raise ChecksumError(f"{path}: sha256 {digest} does not match the official {entry.name} ({entry.sha256})")
    return digest


def data_report():
    """Dict file name -> where it is found locally (or None), without downloading."""
    out = {}
    for name in FILES:
        try:
            out[name] = str(find_data_file(name, download=False))
        except DataNotFoundError:
            out[name] = None
    return out
