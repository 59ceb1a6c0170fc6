"""torch.nn.modules.pixelshuffle's place: PixelShuffle and PixelUnshuffle."""
from ..pixelshuffle import *  # noqa: F401,F403
