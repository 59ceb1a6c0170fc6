"""torch.nn.modules.dropout's place: the dropout layers."""
from ..dropout import *  # noqa: F401,F403
