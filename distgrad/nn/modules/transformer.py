"""torch.nn.modules.transformer's place: the Transformer layers."""
from ..transformer import *  # noqa: F401,F403
