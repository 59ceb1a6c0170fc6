"""PyTorch's import path for the layer classes (torch.nn.modules): ``from distgrad.nn.modules
import Linear``. The classes are distgrad.nn's."""
from ..activation import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from ..containers import ModuleDict, ModuleList, Sequential
from ..conv import Conv2d
from ..dropout import Dropout
from ..flatten import Flatten, Unflatten
from ..linear import Identity, Linear
from ..loss import CrossEntropyLoss, MSELoss, NLLLoss
from ..module import Module
from ..normalization import BatchNorm1d, BatchNorm2d, LayerNorm, SyncBatchNorm
from ..pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from ..sparse import Embedding
from ..rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase

__all__ = ["AdaptiveAvgPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv2d", "CrossEntropyLoss",
           "Dropout", "Embedding", "Flatten", "GELU", "Identity", "LayerNorm", "LeakyReLU", "Linear",
           "LogSoftmax", "MSELoss", "MaxPool2d", "Module", "ModuleDict", "ModuleList", "NLLLoss", "ReLU",
           "Sequential", "Sigmoid", "Softmax", "SyncBatchNorm", "Tanh", "Unflatten"]

from ..attention import MultiheadAttention  # noqa: E402
from ..transformer import (Transformer, TransformerDecoder, TransformerDecoderLayer,  # noqa: E402
                           TransformerEncoder, TransformerEncoderLayer)

__all__ += ["MultiheadAttention", "Transformer", "TransformerDecoder", "TransformerDecoderLayer",
            "TransformerEncoder", "TransformerEncoderLayer"]
__all__ += ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNBase", "RNNCell", "RNNCellBase"]
