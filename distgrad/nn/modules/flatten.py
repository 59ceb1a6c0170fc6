"""torch.nn.modules.flatten's place: Flatten and Unflatten."""
from ..flatten import *  # noqa: F401,F403
