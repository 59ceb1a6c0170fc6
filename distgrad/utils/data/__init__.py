"""PyTorch's import path for the data tools (torch.utils.data): ``from distgrad.utils.data
import DataLoader``, and its submodules ``dataloader``, ``dataset``, ``sampler`` and
``distributed``. Everything is distgrad.data's: these modules only re-export it."""
from ...data import *  # noqa: F401,F403
from ...data import __all__ as _data_all
from . import dataloader, dataset, distributed, sampler  # noqa: F401
from .dataloader import get_worker_info

__all__ = _data_all + ["get_worker_info"]
