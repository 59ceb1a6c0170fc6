"""torch.nn.modules.sparse's place: Embedding."""
from ..sparse import *  # noqa: F401,F403
