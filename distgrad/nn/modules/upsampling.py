"""torch.nn.modules.upsampling's place: Upsample and its fixed-mode forms."""
from ..upsampling import *  # noqa: F401,F403
