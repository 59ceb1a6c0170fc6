"""Utilities laid out as torch.utils (``distgrad.utils.data``)."""
from . import data  # noqa: F401
