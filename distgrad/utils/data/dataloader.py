"""torch.utils.data.dataloader's names."""
from ...data.collate import default_collate, default_convert  # noqa: F401
from ...data.dataloader import DataLoader  # noqa: F401


def get_worker_info():
    """None: distgrad's DataLoader loads every batch in the calling process (no worker
    processes), which is what PyTorch answers in its main process."""
    return None


__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info"]
