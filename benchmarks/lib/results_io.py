"""Reading back what the benchmarks wrote to results/ (common.write_results writes it)."""
import json
import os

from .common import RESULTS


def load_result(name):
    """results/<name>.json as a dict, or None when that benchmark has not been run."""
    path = os.path.join(RESULTS, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)
