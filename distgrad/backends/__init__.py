"""PyTorch's ``torch.backends`` flags, so scripts that set them run unchanged. distgrad calls no
cuDNN, MPS or TF32 kernels: the flags are kept, read back and change nothing."""
from . import cuda, cudnn, mps  # noqa: F401

__all__ = ["cuda", "cudnn", "mps"]
