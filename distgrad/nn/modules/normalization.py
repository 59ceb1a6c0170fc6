"""torch.nn.modules.normalization's place: LayerNorm and the other norms."""
from ..normalization import *  # noqa: F401,F403
