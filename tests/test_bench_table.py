"""The table benchmark script runs (quick mode) and reports agreement and a speed-up ratio."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_table.py"


@pytest.mark.realdata
@pytest.mark.slow
def test_bench_table_quick():
    if not os.environ.get("CRFKIT_DATA"):
        pytest.skip("the benchmark needs the real DoRF/EMoR files: set CRFKIT_DATA")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True, text=True, timeout=600, env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert re.search(r"speed-up ratio against the curve-fit-all baseline: \d+(\.\d+)?x", out), out
    assert "results agree: yes" in out, out
    assert re.search(r"largest excess of crfkit.s mean RMSE over a baseline: [0-9.e+-]+", out), out
