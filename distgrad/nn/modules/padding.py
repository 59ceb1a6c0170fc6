"""torch.nn.modules.padding's place: the padding layers."""
from ..padding import *  # noqa: F401,F403
