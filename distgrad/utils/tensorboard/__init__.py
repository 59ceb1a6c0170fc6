"""TensorBoard logging with PyTorch's ``torch.utils.tensorboard`` API, writing real event
files through the ``tensorboard`` package (``pip install 'distgrad[observe]'``).

    from distgrad.utils.tensorboard import SummaryWriter
    with SummaryWriter("runs/mlp") as writer:
        writer.add_scalar("loss/train", loss.item(), step)

Only rank 0 writes by default; the other ranks' writers do nothing.
"""
try:
    import tensorboard  # noqa: F401  (checked here so the error names the extra to install)
except ImportError as error:
    raise ImportError("distgrad.utils.tensorboard needs the tensorboard package: "
                      "pip install 'distgrad[observe]' (or pip install tensorboard)") from error

from .writer import SummaryWriter  # noqa: E402

__all__ = ["SummaryWriter"]
