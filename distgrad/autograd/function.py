"""PyTorch's import path ``torch.autograd.function``: ``from distgrad.autograd.function import
Function, once_differentiable``."""
from .custom_function import Function, FunctionCtx, once_differentiable  # noqa: F401

__all__ = ["Function", "FunctionCtx", "once_differentiable"]
