"""torch.nn.modules.batchnorm's place: the batch norms (and _BatchNorm)."""
from ..normalization import *  # noqa: F401,F403
from ..normalization import _BatchNorm  # noqa: F401
