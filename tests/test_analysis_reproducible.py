"""The committed analysis results are exactly what the analysis scripts produce.

Runs ``analysis/model_comparison.py`` (the main job's script) into a temporary
folder and compares its text outputs byte for byte with ``analysis/results/``.
A change to the library that moves a number must come with the regenerated
results; a script whose output depends on timing, threads or chance fails here.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = ("model_comparison.md", "model_comparison.csv", "model_comparison.json",
         "model_comparison_per_curve_summary.json")


@pytest.mark.realdata
@pytest.mark.parametrize("threads", ["1", "2"])
def test_model_comparison_script_reproduces_committed_results(tmp_path, monkeypatch, threads):
    monkeypatch.setenv("CRFKIT_THREADS", threads)  # results must not depend on the thread count
    monkeypatch.setenv("MPLBACKEND", "Agg")
    subprocess.run([sys.executable, str(ROOT / "analysis" / "model_comparison.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True, timeout=600)
    for name in FILES:
        produced = (tmp_path / name).read_text()
        committed = (ROOT / "analysis" / "results" / name).read_text()
        assert produced == committed, f"analysis/results/{name} differs from what the script now produces"
