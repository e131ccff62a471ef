"""Every code snippet of the README and of the documentation runs as written.

Conventions (README.md, and the pages under docs/):

* A fenced ```python block is a complete script: it defines every name it uses and runs on its
  own (``python -c``), with ``CRFKIT_DATA`` set and the current folder a temporary folder.
* In README.md and in every documentation page, every line of a fenced ```bash block that starts
  with ``crfkit `` is run too (through bash, so ``$CRFKIT_DATA`` expands; a line ending in ``\\``
  continues on the next). Other lines (``git``, ``pip``, ``export``, ``cd``, ...) are not run. The
  README's blocks, and each page's bash blocks, run in document order in one temporary folder (with
  ``datasets/`` of the repository beside them, as in a clone), so a command may read a file an
  earlier one wrote.
* ``<!-- snippet: skip -->`` (an HTML comment, alone on a line, right before the block; in reST
  ``.. snippet: skip``) keeps the block from running. Use it only where a block truly cannot run,
  e.g. it needs a camera's RAW files that are not in the shared data.
* ``<!-- snippet: torch -->`` marks a block that needs torch: it runs only where torch imports.
  Blocks that call the networks (``crfkit.estimate``, ``crfkit.restore``, ``crfkit estimate``,
  ``linearize``, ``restore``, ``train``) are recognised as such without the marker.

The documentation pages' blocks are independent of each other; they and the README's chain run
two at a time.
"""

import functools
import os
import re
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TIMEOUT = 600
SKIP = "skip"
TORCH = "torch"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.S | re.M)
_MARK_MD = re.compile(r"<!--\s*snippet:\s*(?P<mark>[\w-]+)[^>]*-->")
_RST_BLOCK = re.compile(r"^(?P<indent>[ \t]*)\.\. code-block:: (?P<lang>\w+)[^\n]*\n(?:(?P=indent)[ \t]+:[^\n]*\n)*\n(?P<body>(?:(?:(?P=indent)[ \t]+[^\n]*)?\n)+)", re.M)
_MARK_RST = re.compile(r"^\s*\.\. snippet:\s*(?P<mark>[\w-]+)", re.M)
_NEEDS_TORCH = re.compile(
    r"crfkit\.estimate\(|crfkit\.restore\(|method=\"masked-unet\"|restore_file\(|import torch"
    r"|^\s*crfkit (estimate|linearize|restore|train|evaluate-estimators|evaluate-restoration)\b",
    re.M,
)


class Block:
    def __init__(self, path, line, lang, code, mark):
        self.path, self.line, self.lang, self.code, self.mark = path, line, lang, code, mark

    @property
    def id(self):
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    def commands(self):
        """The ``crfkit ...`` command lines of a bash block (continuations joined)."""
        joined = re.sub(r"[ \t]*\\\n\s*", " ", self.code)
        return [ln.strip() for ln in joined.splitlines() if ln.strip().startswith("crfkit ")]

    def needs_torch(self):
        if self.mark == TORCH:
            return True
        text = self.code if self.lang == "python" else "\n".join(self.commands())
        return bool(_NEEDS_TORCH.search(text))


def _mark_before(text, start, pattern):
    """The snippet mark on the non-blank line just above ``start``, if any."""
    above = text[:start].rstrip().rsplit("\n", 1)[-1]
    m = pattern.search(above)
    return m.group("mark") if m else None


def extract(path, langs=("python",)):
    """The code blocks of a Markdown or reST file whose language is in ``langs``."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    blocks = []
    if path.suffix == ".rst":
        for m in _RST_BLOCK.finditer(text):
            if m.group("lang") in langs:
                lines = m.group("body").splitlines()
                indent = min((len(ln) - len(ln.lstrip()) for ln in lines if ln.strip()), default=0)
                code = "\n".join(ln[indent:] for ln in lines) + "\n"
                mark = _mark_before(text, m.start(), _MARK_RST)
                blocks.append(Block(path, text[: m.start()].count("\n") + 1, m.group("lang"), code, mark))
        return blocks
    for m in _FENCE.finditer(text):
        lang = m.group("lang").lower()
        lang = {"py": "python", "sh": "bash", "shell": "bash", "console": "bash"}.get(lang, lang)
        if lang in langs:
            indent = len(m.group("indent"))
            code = "\n".join(ln[indent:] for ln in m.group("body").splitlines()) + "\n"
            mark = _mark_before(text, m.start(), _MARK_MD)
            blocks.append(Block(path, text[: m.start()].count("\n") + 1, lang, code, mark))
    return blocks


def doc_pages():
    """The documentation's hand-written pages (not the build, the gallery or generated API pages)."""
    excluded = {"_build", "auto_examples", "api", "_templates", "_static"}
    pages = []
    for p in sorted(DOCS.rglob("*")):
        if p.suffix in (".md", ".rst") and not excluded.intersection(p.relative_to(DOCS).parts[:-1]):
            pages.append(p)
    return pages


def _data_dir():
    value = os.environ.get("CRFKIT_DATA")
    if value:
        return Path(value).resolve()
    for candidate in (ROOT.parent / "shared" / "data", ROOT / "shared" / "data"):
        if candidate.is_dir():
            return candidate.resolve()
    return None


@functools.lru_cache(maxsize=None)
def _torch_imports():
    try:
        import torch  # noqa: F401
    except Exception:
        return False
    return True


def _env(data):
    env = dict(os.environ)
    env["CRFKIT_DATA"] = str(data)
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    # the console script of this interpreter's environment comes first
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _run(block, cwd, data):
    """Run one block; returns (ok, report)."""
    env = _env(data)
    if block.lang == "python":
        runs = [([sys.executable, "-c", block.code], block.code)]
    else:
        runs = [(["bash", "-c", cmd], cmd) for cmd in block.commands()]
    for argv, shown in runs:
        try:
            p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                               timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return False, f"{block.id}: timed out after {TIMEOUT} s:\n{shown}"
        if p.returncode != 0:
            return False, (f"{block.id}: exit status {p.returncode}\n--- code ---\n{shown}\n"
                           f"--- stdout ---\n{p.stdout[-3000:]}\n--- stderr ---\n{p.stderr[-5000:]}")
    return True, ""


DATA = _data_dir()
needs_data = pytest.mark.skipif(DATA is None, reason="no CRFKIT_DATA and no ../shared/data: the snippets read the real data")

README_BLOCKS = [b for b in extract(ROOT / "README.md", ("python", "bash"))
                 if b.lang == "python" or b.commands()] if (ROOT / "README.md").exists() else []
DOC_BLOCKS = [b for page in doc_pages() for b in extract(page)]
# The guide's ``crfkit`` command lines: each page's bash blocks run in order in one folder (a
# command may read what an earlier one on the page wrote), like the README's.
DOC_COMMAND_BLOCKS = [b for page in doc_pages() for b in extract(page, ("bash",)) if b.commands()]
CHAINS = {"README.md": README_BLOCKS}
for _b in DOC_COMMAND_BLOCKS:
    CHAINS.setdefault(str(_b.path.relative_to(ROOT)), []).append(_b)


# -- running: one pool of two workers for the whole module ---------------------------------------
# The README's blocks run one after the other (a command may read what an earlier one wrote) as
# one job; every documentation block is a job of its own. Two workers share them, so the README's
# chain and the pages' blocks overlap on a two-core machine.

def _skip_reason(block):
    if block.mark == SKIP:
        return f"{block.id} is marked <!-- snippet: skip -->"
    if block.needs_torch() and not _torch_imports():
        return f"{block.id} needs torch, which does not import here"
    return None


class _Pool:
    """Starts every block on first use and hands out each result when asked."""

    def __init__(self, selected):
        self._selected = selected  # ids of the blocks whose tests were collected
        self._lock = threading.Lock()
        self._futures = None
        self._tmp = None
        self._stop = threading.Event()

    def _readme_chain(self, blocks, cwd):
        for block in blocks:
            future = self._futures[block.id]
            if self._stop.is_set() or not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(_run(block, cwd, DATA) if not _skip_reason(block) else (True, ""))
            except BaseException as exc:  # reported by the test that waits for it
                future.set_exception(exc)

    def _start(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="crfkit-snippets-")
        workers = 2 if (os.cpu_count() or 1) >= 2 else 1
        pool = ThreadPoolExecutor(max_workers=workers)
        self._futures = {b.id: Future() for chain in CHAINS.values() for b in chain}
        for n, chain in enumerate(CHAINS.values()):
            chain_dir = Path(self._tmp.name) / f"chain{n}"
            chain_dir.mkdir()
            # as in a clone's root: commands may name the repository's manifests (datasets/...)
            (chain_dir / "datasets").symlink_to(ROOT / "datasets", target_is_directory=True)
            # blocks up to the last selected one (a later block may need an earlier one's files)
            last = max((i for i, b in enumerate(chain) if b.id in self._selected), default=-1)
            if last >= 0:
                pool.submit(self._readme_chain, chain[: last + 1], chain_dir)
        for i, b in enumerate(DOC_BLOCKS):
            if _skip_reason(b) or b.id not in self._selected:
                continue
            cwd = Path(self._tmp.name) / f"block{i}"
            cwd.mkdir()
            self._futures[b.id] = pool.submit(_run, b, cwd, DATA)
        pool.shutdown(wait=False)

    def result(self, block):
        with self._lock:
            if self._futures is None:
                self._start()
        return self._futures[block.id].result()

    def close(self):
        if self._futures is None:
            return
        self._stop.set()
        for f in self._futures.values():
            f.cancel()
        for f in self._futures.values():
            if not f.cancelled():
                try:
                    f.result()
                except BaseException:
                    pass
        self._tmp.cleanup()


@pytest.fixture(scope="module")
def snippet_pool(request):
    selected = {item.callspec.params["block"].id for item in request.session.items
                if getattr(item, "callspec", None) is not None and "block" in item.callspec.params}
    pool = _Pool(selected)
    yield pool
    pool.close()


def _check(block, pool):
    """Skip a marked (or torch-less) block, else wait for its run and report its failure."""
    reason = _skip_reason(block)
    if reason:
        pytest.skip(reason)
    ok, report = pool.result(block)
    assert ok, report


@needs_data
@pytest.mark.parametrize("block", README_BLOCKS, ids=[b.id for b in README_BLOCKS])
def test_readme_snippet(block, snippet_pool):
    _check(block, snippet_pool)


@needs_data
@pytest.mark.parametrize("block", DOC_COMMAND_BLOCKS, ids=[b.id for b in DOC_COMMAND_BLOCKS])
def test_docs_commands(block, snippet_pool):
    _check(block, snippet_pool)


@needs_data
@pytest.mark.parametrize("block", DOC_BLOCKS, ids=[b.id for b in DOC_BLOCKS])
def test_docs_snippet(block, snippet_pool):
    _check(block, snippet_pool)


# -- the extraction itself -----------------------------------------------------------------------

def test_extraction_conventions(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "text\n\n```python\nprint(1)\n```\n\n<!-- snippet: skip -->\n```python\nraise SystemExit(1)\n```\n\n"
        "<!-- snippet: torch -->\n\n```python\nx = 1\n```\n\n"
        "```bash\npip install crfkit\ncrfkit fit dorf \\\n    --index 0\ncrfkit info   # versions\n```\n\n"
        "- a list item\n\n  ```python\n  y = 2\n  ```\n",
        encoding="utf-8",
    )
    blocks = extract(page, ("python", "bash"))
    assert [b.lang for b in blocks] == ["python", "python", "python", "bash", "python"]
    assert [b.mark for b in blocks] == [None, SKIP, TORCH, None, None]
    assert blocks[0].line == 3 and not blocks[0].needs_torch() and blocks[2].needs_torch()
    assert blocks[3].commands() == ["crfkit fit dorf --index 0", "crfkit info   # versions"]
    assert blocks[4].code == "y = 2\n"
    rst = tmp_path / "page.rst"
    rst.write_text("Title\n=====\n\n.. snippet: skip\n\n.. code-block:: python\n   :caption: x\n\n   a = 1\n   b = 2\n\nafter\n",
                   encoding="utf-8")
    (b,) = extract(rst)
    assert b.code.strip() == "a = 1\nb = 2" and b.mark == SKIP


def test_snippets_found():
    assert DOC_BLOCKS, "no python blocks found in docs/"
    pages = {b.path.name for b in DOC_BLOCKS}
    for page in ("fitting.md", "charts.md", "bracket-calibration.md", "single-image-estimation.md",
                 "hdr-restoration.md", "curves-and-files.md"):
        assert page in pages, f"docs/guide/{page} has no python block"
