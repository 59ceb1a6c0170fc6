"""``distgrad.amp``, torch.amp's place: autocast (ops in float16 where PyTorch runs them in low
precision) and GradScaler (dynamic loss scaling)."""
from .autocast_mode import autocast, get_autocast_dtype, is_autocast_enabled
from .grad_scaler import GradScaler

__all__ = ["GradScaler", "autocast", "get_autocast_dtype", "is_autocast_enabled"]
