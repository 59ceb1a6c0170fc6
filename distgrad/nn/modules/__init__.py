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

from ..activation import (CELU, ELU, GLU, SELU, Hardsigmoid, Hardswish, Hardtanh, LogSigmoid, Mish,  # noqa: E402
                          PReLU, ReLU6, SiLU, Softmin, Softplus, Softsign, Tanhshrink)
from ..conv import Conv1d, ConvTranspose1d, ConvTranspose2d  # noqa: E402
from ..dropout import Dropout1d, Dropout2d, Dropout3d  # noqa: E402
from ..fold import Fold, Unfold  # noqa: E402
from ..normalization import GroupNorm, InstanceNorm1d, InstanceNorm2d  # noqa: E402
from ..padding import (CircularPad1d, CircularPad2d, ConstantPad1d, ConstantPad2d, ReflectionPad1d,  # noqa: E402
                       ReflectionPad2d, ReplicationPad1d, ReplicationPad2d, ZeroPad1d, ZeroPad2d)
from ..pixelshuffle import PixelShuffle, PixelUnshuffle  # noqa: E402
from ..pooling import AdaptiveAvgPool1d, AdaptiveMaxPool1d, AdaptiveMaxPool2d, AvgPool1d, MaxPool1d  # noqa: E402
from ..sparse import EmbeddingBag  # noqa: E402
from ..upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d  # noqa: E402

__all__ += ["AdaptiveAvgPool1d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AvgPool1d", "CELU", "CircularPad1d",
            "CircularPad2d", "ConstantPad1d", "ConstantPad2d", "Conv1d", "ConvTranspose1d",
            "ConvTranspose2d", "Dropout1d", "Dropout2d", "Dropout3d", "ELU", "EmbeddingBag", "GLU",
            "GroupNorm", "Hardsigmoid", "Hardswish", "Hardtanh", "InstanceNorm1d", "InstanceNorm2d",
            "LogSigmoid", "MaxPool1d", "Mish", "PReLU", "PixelShuffle", "PixelUnshuffle", "ReLU6",
            "ReflectionPad1d", "ReflectionPad2d", "ReplicationPad1d", "ReplicationPad2d", "SELU", "SiLU",
            "Softmin", "Softplus", "Softsign", "Tanhshrink", "Upsample", "UpsamplingBilinear2d",
            "UpsamplingNearest2d", "ZeroPad1d", "ZeroPad2d", "Fold", "Unfold"]
