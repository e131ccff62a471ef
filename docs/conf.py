"""Sphinx configuration for the crfkit documentation.

Why Sphinx + pydata-sphinx-theme + numpydoc + sphinx-gallery (and not mkdocs-material):

* it is the form our users already know from scikit-image, colour-science, SciPy and
  scikit-learn: the same theme, the same API-reference layout, the same gallery;
* crfkit's docstrings are already numpydoc ("Parameters / Returns / Raises" sections), which
  numpydoc renders without any rewriting;
* sphinx-gallery runs every script in ``examples/`` at build time and embeds the figures it
  draws, so the gallery can never show a figure that the current code does not produce.

User-guide and results pages are Markdown (MyST); the API reference is reST with autosummary.
Build: ``bash docs/build.sh`` (warnings are errors).
"""

import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

# The gallery and the results pages read the real data through CRFKIT_DATA; default to the
# copy beside the checkout (CI lays shared/ there) when the caller did not set it.
if "CRFKIT_DATA" not in os.environ:
    for candidate in (ROOT.parent / "shared" / "data", ROOT / "shared" / "data"):
        if candidate.is_dir():
            os.environ["CRFKIT_DATA"] = str(candidate)
            break
# One thread per BLAS pool while examples run: the docs build shares small CI machines.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import crfkit  # noqa: E402

project = "crfkit"
author = "crfkit developers"
copyright = "2026, crfkit developers"
release = crfkit.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_design",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "README.md", "build.sh", "Thumbs.db", ".DS_Store",
                    "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip",
                    "auto_examples/*.md5", "auto_examples/*.json"]
templates_path = ["_templates"]
# No html_static_path: there are no static files, and an empty _static/ is not in git, so a
# fresh clone would warn (an error under -W) about the missing folder.

# -- MyST (Markdown pages) -------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
# Pages link to the analysis scripts and result files in the repository (outside docs/);
# those links are plain paths on GitHub, not documents of this site.
# The result files included from analysis/results/ are written by scripts for GitHub, where a
# heading may skip a level; that is not an error of these pages.
suppress_warnings = ["myst.header"]

# -- autodoc / autosummary / numpydoc --------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {}
autodoc_typehints = "none"
# Optional extras are imported lazily inside crfkit; mock nothing, but do not fail the build
# on a machine without torch: the pages that need it say so.
autodoc_mock_imports = []

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()
numpydoc_attributes_as_param_list = True

nitpicky = False


# -- sphinx-gallery --------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",          # run every plot_*.py script
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "plot_gallery": "True",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "show_memory": False,
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "reference_url": {"crfkit": None},
    "min_reported_time": 1,
}

# -- HTML ------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"crfkit {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "changelog": []}
html_show_sourcelink = False


# -- autosummary: keep inline literals whole in the one-line summaries -----------------------
# autosummary cuts a docstring's first sentence at ". ", which can fall inside an inline
# literal such as ``JPEG = f(M . RAW)`` and leave broken markup in the table. Protect the
# literals while the sentence is found, then put them back.
import re as _re  # noqa: E402

import sphinx.ext.autosummary as _autosummary  # noqa: E402

_extract_summary = _autosummary.extract_summary


def _extract_summary_keeping_literals(doc, settings):
    literals = []

    def hide(match):
        literals.append(match.group(0))
        return f"``LITERAL{len(literals) - 1}``"

    hidden = [_re.sub(r"``.+?``", hide, line) for line in doc]
    summary = _extract_summary(hidden, settings)
    return _re.sub(r"``LITERAL(\d+)``", lambda m: literals[int(m.group(1))], summary)


_autosummary.extract_summary = _extract_summary_keeping_literals
