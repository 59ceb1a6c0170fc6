"""torch.nn.modules.container's place: Sequential, ModuleList, ModuleDict."""
from ..containers import *  # noqa: F401,F403
