"""Reliability tests: faults, bad input, multi-host failures and a soak, each job launched
with mpiexec from this one pytest process (see jobs.py)."""
from jobs import FIGURES


def pytest_terminal_summary(terminalreporter):
    if not FIGURES:
        return
    terminalreporter.section("reliability figures (measured in this run)")
    for name, values in FIGURES.items():
        shown = ", ".join(f"{value:.3g} {unit}".rstrip() for value, unit in values)
        terminalreporter.write_line(f"{name}: {shown}")
