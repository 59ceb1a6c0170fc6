"""torch.nn.modules.container's place: Sequential, ModuleList, ModuleDict."""
from ..containers import *  # noqa: F401,F403
from ..parameter_containers import ParameterDict, ParameterList  # noqa: F401,E402
