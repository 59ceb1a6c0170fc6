"""tests/gpu reuses the op tables of tests/unit (their CASES), so that folder is importable here."""
import os
import sys

UNIT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "unit")
if UNIT not in sys.path:
    sys.path.insert(0, UNIT)
