"""torch.nn.modules.pooling's place: the pooling layers."""
from ..pooling import *  # noqa: F401,F403
