"""torch.nn.modules.linear's place: Linear and Identity."""
from ..linear import *  # noqa: F401,F403
