"""benchmarks/first_start.py times real starts in fresh processes and writes files a user can read."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_first_start_measures_then_the_cache_is_used(tiny_model_dir, tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "first_start.py"), "--model-dir",
                           str(tiny_model_dir), "--runs", "1", "--name", "test", "--out-dir", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "first-start-test.json").read_text())
    (run,) = result["runs"]
    assert run["first"]["reason"] == "measured" and run["first"]["measuring_s"] > 0
    assert run["cached"]["reason"] == "cached" and run["cached"]["variant"] == run["first"]["variant"]
    assert set(result["explicit_start_s"]) == set(result["variants"])
    assert "| 1 |" in proc.stdout and "first start median" in proc.stdout and result["machine"]["int8_flags"]
