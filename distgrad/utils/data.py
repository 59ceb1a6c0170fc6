"""PyTorch's import path for the data tools: ``from distgrad.utils.data import DataLoader``."""
from ..data import *  # noqa: F401,F403
from ..data import __all__  # noqa: F401
