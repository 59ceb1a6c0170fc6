"""torch.nn.modules.rnn's place: the recurrent layers and cells."""
from ..rnn import *  # noqa: F401,F403
from ..rnn import RNNBase, RNNCellBase  # noqa: F401
