"""torch.nn.modules.loss's place: the loss layers and their bases (_Loss for losses of one's own)."""
from ..loss import *  # noqa: F401,F403
from ..loss import _Loss, _WeightedLoss  # noqa: F401
