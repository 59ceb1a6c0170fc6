"""torch.nn.modules.activation's place: the activation layers (and MultiheadAttention, which torch keeps here)."""
from ..activation import *  # noqa: F401,F403
from ..attention import MultiheadAttention  # noqa: F401
