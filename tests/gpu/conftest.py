"""tests/gpu reuses the op tables of tests/unit (their CASES), so that folder is importable here.
Under benchmarks/gpu_check.py each pytest step has a time limit: past the moment it passes in
DISTGRAD_GPU_CHECK_STOP_AT (Unix time), the remaining tests are skipped, so the step still
reports its counts instead of being killed."""
import os
import sys
import time

import pytest

UNIT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "unit")
if UNIT not in sys.path:
    sys.path.insert(0, UNIT)


def pytest_runtest_setup(item):
    stop_at = os.environ.get("DISTGRAD_GPU_CHECK_STOP_AT")
    if stop_at and time.time() > float(stop_at):
        pytest.skip("out of time: gpu_check's limit for this step is reached")
