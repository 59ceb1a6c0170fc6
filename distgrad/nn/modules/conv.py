"""torch.nn.modules.conv's place: the convolution layers."""
from ..conv import *  # noqa: F401,F403
