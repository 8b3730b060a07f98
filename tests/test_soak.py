import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "soak_dataloader.py"


@pytest.mark.slow
def test_data_loading_soak_shows_no_memory_growth():
    # CI runs the short form; the recorded 3000-batch run is in docs/benchmarks.md.
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=300, check=True
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["batches"] == 200
    assert result["growth_mb_first_to_last_quarter"] < 50
