"""PyTorch computes inf and NaN silently: they are values, not events. NumPy warns for each
(``RuntimeWarning: divide by zero encountered in log``), so the same script would print noise
under distgrad that it never printed under PyTorch.

An ``errstate`` around every forward costs about 2 us an op; a warnings filter costs nothing
until a warning is raised. It is scoped to NumPy's floating-point messages raised from
distgrad's own modules: user code's NumPy warnings, and distgrad's own RuntimeWarnings, are kept.
"""
import warnings

warnings.filterwarnings(
    "ignore", message=r"(invalid value|divide by zero|overflow|underflow) encountered",
    category=RuntimeWarning, module=r"distgrad\.")
