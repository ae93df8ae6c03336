"""Shared helpers for the simulator tests: tiny SWF files and the real traces."""
from pathlib import Path

import pytest

TRACES = Path(__file__).resolve().parents[3] / "shared" / "traces"
LUBLIN = TRACES / "lublin_256.swf"
CTC = TRACES / "CTC-SP2-1996-3.1-cln.swf.gz"


def swf_line(number, submit, run, procs, cpu=-1, requested_time=-1, requested_procs=-1):
    fields = [number, submit, -1, run, procs, cpu, -1, requested_procs, requested_time, -1, 1, 1, 1, -1, 0, -1, -1, -1]
    return " ".join(str(f) for f in fields)


@pytest.fixture
def tiny_trace(tmp_path):
    """Four cores; a wide job, then a short one that EASY backfills."""
    text = "\n".join([
        "; Version: 2",
        "; MaxProcs: 4",
        swf_line(1, 0, 100, 2, requested_time=100),
        swf_line(2, 1, 50, 4, requested_time=50),
        swf_line(3, 2, 20, 2, requested_time=20),
        "",
    ])
    path = tmp_path / "tiny.swf"
    path.write_text(text)
    return path


def need_traces():
    if not LUBLIN.exists() or not CTC.exists():
        pytest.skip(f"traces not found under {TRACES}")
