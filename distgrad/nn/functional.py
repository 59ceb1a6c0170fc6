"""distgrad.nn.functional: the stateless ops behind the layers (PyTorch's torch.nn.functional).

Everything here is distgrad.ops' own function, re-exported under PyTorch's module name, but
for ``relu`` and ``leaky_relu``, which take ``inplace`` here as in PyTorch, and the softmaxes,
which take PyTorch's internal ``_stacklevel`` before ``dtype``.
"""
from ..ops import (adaptive_avg_pool2d, avg_pool2d, batch_norm, conv2d, cross_entropy, dropout, embedding,
                   gelu, layer_norm, linear, max_pool2d, mse_loss, nll_loss, relu_, sigmoid, tanh)
from ..ops import log_softmax as _log_softmax, softmax as _softmax, softmin as _softmin
from ..ops import leaky_relu as _leaky_relu, relu as _relu
from ..ops.inplace import leaky_relu_
from ..ops import (binary_cross_entropy, binary_cross_entropy_with_logits, cosine_embedding_loss, huber_loss,
                   kl_div, l1_loss, margin_ranking_loss, smooth_l1_loss)

__all__ = ["adaptive_avg_pool2d", "avg_pool2d", "batch_norm", "conv2d", "cross_entropy", "dropout", "embedding",
           "gelu", "layer_norm", "leaky_relu", "leaky_relu_", "linear", "log_softmax", "max_pool2d", "mse_loss", "nll_loss",
           "relu", "relu_", "sigmoid", "softmax", "tanh", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "cosine_embedding_loss", "huber_loss", "kl_div", "l1_loss",
           "margin_ranking_loss", "smooth_l1_loss"]


def relu(input, inplace=False):
    """``inplace=True`` writes the result into ``input`` (``relu_``), as PyTorch's."""
    return relu_(input) if inplace else _relu(input)


# PyTorch's nn.functional softmaxes take an internal _stacklevel third (torch.softmax does not),
# so that a positional dtype lands where PyTorch's does
def softmax(input, dim=None, _stacklevel=3, dtype=None):
    return _softmax(input, dim, dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    return _log_softmax(input, dim, dtype)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    return _softmin(input, dim, dtype)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """``inplace=True`` writes the result into ``input`` (``leaky_relu_``), as PyTorch's."""
    return leaky_relu_(input, negative_slope) if inplace else _leaky_relu(input, negative_slope)

from ..ops.attention import scaled_dot_product_attention  # noqa: E402

__all__ += ["scaled_dot_product_attention"]

from ..ops import (adaptive_avg_pool1d, adaptive_max_pool1d, adaptive_max_pool2d, avg_pool1d, celu,  # noqa: E402
                   conv1d, conv_transpose1d, conv_transpose2d, cosine_similarity, dropout1d, dropout2d, dropout3d,
                   elu, embedding_bag, glu, group_norm, hardsigmoid, hardswish, hardtanh, instance_norm,
                   interpolate, logsigmoid, max_pool1d, mish, normalize, one_hot, pad, pairwise_distance,
                   pixel_shuffle, pixel_unshuffle, prelu, relu6, selu, silu, softplus, softsign,
                   tanhshrink, upsample)
from ..ops import fold, unfold  # noqa: E402

__all__ += ["adaptive_avg_pool1d", "adaptive_max_pool1d", "adaptive_max_pool2d", "avg_pool1d", "celu", "conv1d",
            "conv_transpose1d", "conv_transpose2d", "cosine_similarity", "dropout1d", "dropout2d", "dropout3d", "elu",
            "embedding_bag", "glu", "group_norm", "hardsigmoid", "hardswish", "hardtanh", "instance_norm",
            "interpolate", "logsigmoid", "max_pool1d", "mish", "normalize", "one_hot", "pad", "pairwise_distance",
            "pixel_shuffle", "pixel_unshuffle", "prelu", "relu6", "selu", "silu", "softmin", "softplus", "softsign",
            "tanhshrink", "upsample", "fold", "unfold"]
from ..ops.grid_sample import affine_grid, grid_sample  # noqa: E402
from ..ops import (gaussian_nll_loss, hinge_embedding_loss, multi_margin_loss, multilabel_margin_loss,  # noqa: E402
                   multilabel_soft_margin_loss, poisson_nll_loss, soft_margin_loss, triplet_margin_loss)

__all__ += ["gaussian_nll_loss", "hinge_embedding_loss", "multi_margin_loss", "multilabel_margin_loss",
            "multilabel_soft_margin_loss", "poisson_nll_loss", "soft_margin_loss", "triplet_margin_loss"]
from ..ops.rms_norm import rms_norm  # noqa: E402
from ..ops.bilinear import bilinear  # noqa: E402
