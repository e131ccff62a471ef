"""The committed analysis results are what the analysis scripts produce.

Runs ``analysis/model_comparison.py`` (the main job's script) into a temporary
folder, once with one thread and once with two, and compares its text outputs
with ``analysis/results/``: the two runs byte for byte (a script whose output
depends on timing, threads or chance fails here), the committed files the same
text with every number equal to 1e-9 relative (a change to the library that
moves a number must come with the regenerated results; a new NumPy or SciPy
release may move the 12th digit of a least-squares solution, which is not a
change of result).
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = ("model_comparison.md", "model_comparison.csv", "model_comparison.json",
         "model_comparison_per_curve_summary.json")
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def run_script(out, threads, monkeypatch):
    monkeypatch.setenv("CRFKIT_THREADS", threads)  # results must not depend on the thread count
    monkeypatch.setenv("MPLBACKEND", "Agg")
    subprocess.run([sys.executable, str(ROOT / "analysis" / "model_comparison.py"), "--out", str(out)],
                   check=True, capture_output=True, timeout=600)
    return {name: (out / name).read_text() for name in FILES}


def same_up_to_last_digits(a, b, rtol=1e-9):
    """Equal text outside numbers, and numbers equal to ``rtol`` (relative) or 1e-15 (absolute)."""
    if NUMBER.sub("#", a) != NUMBER.sub("#", b):
        return False
    return all(x == y or abs(float(x) - float(y)) <= rtol * max(abs(float(x)), abs(float(y))) + 1e-15
               for x, y in zip(NUMBER.findall(a), NUMBER.findall(b)))


def test_number_comparison_can_fail():
    assert same_up_to_last_digits("a,0.00150461973004\n", "a,0.00150461972997\n")
    assert not same_up_to_last_digits("a,0.0015046\n", "a,0.0015047\n")
    assert not same_up_to_last_digits("a,0.0015\n", "b,0.0015\n")


@pytest.mark.realdata
def test_model_comparison_script_reproduces_committed_results(tmp_path, monkeypatch):
    one = run_script(tmp_path / "one", "1", monkeypatch)
    two = run_script(tmp_path / "two", "2", monkeypatch)
    for name in FILES:
        assert one[name] == two[name], f"{name}: one thread and two threads give different results"
        committed = (ROOT / "analysis" / "results" / name).read_text()
        assert same_up_to_last_digits(one[name], committed), \
            f"analysis/results/{name} differs from what the script now produces"
