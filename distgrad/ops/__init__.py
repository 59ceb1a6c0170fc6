"""The functional API (distgrad.relu, distgrad.cat, ...), which the Tensor methods call.

Every function takes the tensor first, so ``x.sum(1)`` (declared in tensor.py) is
``distgrad.sum(x, 1)``: one piece of code.
"""
from . import _quiet_floats  # noqa: F401  (imported for its warnings filter)
from ._util import cast
from .activation import gelu, leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from .blend import addmm, lerp
from .conv import conv2d
from .device import to_device
from .dropout import dropout
from .elementwise import bitwise_and, bitwise_left_shift, bitwise_not, bitwise_or, bitwise_right_shift, bitwise_xor
from .elementwise import (abs, add, allclose, ceil, clamp, clip, clone, div, eq, equal, exp, floor, ge,
                          gt, isfinite, isinf, isnan, le, log, logical_and, logical_not, logical_or,
                          logical_xor, lt, maximum, minimum, mul, ne, neg, pow, round, rsqrt, sign,
                          sqrt, square, sub, where, nonzero)
from .embedding import embedding
from .indexing import gather, getitem, index_select, masked_fill
from .inplace import add_, clamp_, copy_, div_, fill_, masked_fill_, mul_, pow_, relu_, setitem, sub_, zero_
from .linalg import bmm, dot, linear, matmul, mm, outer
from .loss import cross_entropy, mse_loss, nll_loss
from .losses_extra import (binary_cross_entropy, binary_cross_entropy_with_logits, cosine_embedding_loss,
                           huber_loss, kl_div, l1_loss, margin_ranking_loss, smooth_l1_loss)
from .normalization import batch_norm, layer_norm
from .pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from .reduction import (all, amax, amin, any, argmax, argmin, max, mean, min, norm, prod, std,
                        sum, var)
from .reorder import flip, narrow, repeat, repeat_interleave, roll, tile
from .scan import cumprod, cumsum, logsumexp
from .shape import (broadcast_to, cat, chunk, concat, concatenate, expand, expand_as, flatten, permute,
                    reshape, reshape_as, split, squeeze, stack, swapaxes, t, transpose, unbind,
                    unflatten, unsqueeze, view, view_as)
from .sorting import argsort, sort, topk
from .special import erf, erfinv
from .triangular import diag, trace, tril, triu
from .trig import arctan, arctan2, atan, atan2, cos, cosh, expm1, log10, log1p, log2, sin, sinh, tan
from .trig import acos, acosh, arccos, arccosh, arcsin, arcsinh, arctanh, asin, asinh, atanh, exp2
from .activation_more import (celu, elu, glu, hardsigmoid, hardswish, hardtanh, logsigmoid, mish, prelu, relu6,
                              selu, silu, softmin, softplus, softsign, tanhshrink)
from .channel_dropout import dropout1d, dropout2d, dropout3d
from .conv import conv1d, conv_transpose1d, conv_transpose2d
from .embedding_bag import embedding_bag
from .fold import fold, unfold
from .normalization import group_norm, instance_norm
from .padding import pad
from .pixel_shuffle import pixel_shuffle, pixel_unshuffle
from .pooling import (adaptive_avg_pool1d, adaptive_max_pool1d, adaptive_max_pool2d, avg_pool1d,
                      max_pool1d)
from .similarity import cosine_similarity, normalize, one_hot, pairwise_distance
from .upsample import interpolate, upsample
from .grids import cdist, meshgrid
from .scattering import (index_add, index_add_, index_fill, index_fill_, masked_select, scatter, scatter_, scatter_add,
                         scatter_add_)
from .searching import bucketize, searchsorted
from .scatter_reductions import index_copy, index_copy_, scatter_reduce, scatter_reduce_
from .addc import addcdiv, addcdiv_, addcmul, addcmul_, reciprocal
from .elementwise import floor_divide, remainder
from .inplace_unary import abs_, exp_, log_, neg_, reciprocal_, sigmoid_, sqrt_, tanh_
from .counting import argwhere, bincount, broadcast_tensors, count_nonzero, histc, isclose, unique
from .misc_math import (clamp_max, clamp_min, copysign, deg2rad, fix, fmod, frac, heaviside, hypot, logaddexp,
                        logit, msort, nan_to_num, positive, rad2deg, sgn, signbit, sinc, trunc, xlogy)
from .differences import diag_embed, diagonal, diff, moveaxis, movedim, rot90, take_along_dim
from .products import cross, kron, tensordot
from .quantiles import median, mode, nanmedian, nanquantile, quantile
from .paired_reductions import (aminmax, cummax, cummin, logcumsumexp, nanmean, nansum, renorm, std_mean,
                                var_mean)
from .inplace_more import index_put, index_put_
from .einsum import einsum
from .losses_more import (gaussian_nll_loss, hinge_embedding_loss, multi_margin_loss, multilabel_margin_loss,
                          multilabel_soft_margin_loss, poisson_nll_loss, soft_margin_loss, triplet_margin_loss)
from .sampling import multinomial

multiply, divide, subtract, true_divide, negative = mul, div, sub, div, neg
greater, less, greater_equal, less_equal, not_equal = gt, lt, ge, le, ne

from ._util import names_non_tensors as _names_non_tensors  # noqa: E402

# The functional API names the op and the argument when given a number where a tensor goes.
for _n, _v in list(globals().items()):
    if callable(_v) and not isinstance(_v, type) and not _n.startswith("_") and _n != "cast":
        globals()[_n] = _names_non_tensors(_v)

# What ``from distgrad.ops import *`` (and so the top-level ``distgrad``) exports: functions
# only, not submodules, and not the ops whose top-level PyTorch namesakes take their
# arguments in another order (those live in distgrad.nn.functional).
_FUNCTIONAL_ONLY = {"batch_norm", "embedding", "binary_cross_entropy", "binary_cross_entropy_with_logits",
                    "cosine_embedding_loss", "huber_loss", "kl_div", "l1_loss", "margin_ranking_loss",
                    "smooth_l1_loss"}
# torch.nn.functional's only (no top-level torch namesake), or top-level with another signature.
_FUNCTIONAL_ONLY |= {"adaptive_max_pool1d", "adaptive_max_pool2d", "dropout1d", "dropout2d", "dropout3d", "elu",
                     "embedding_bag", "glu", "hardsigmoid", "hardswish", "hardtanh", "instance_norm", "interpolate",
                     "logsigmoid", "mish", "normalize", "one_hot", "pad", "relu6", "silu", "softmin", "softplus",
                     "softsign", "tanhshrink", "upsample", "fold", "unfold"}
# (the top-level triplet, Poisson and hinge losses take PyTorch's reduction enum, in another order)
_FUNCTIONAL_ONLY |= {"gaussian_nll_loss", "hinge_embedding_loss", "multi_margin_loss", "multilabel_margin_loss",
                     "multilabel_soft_margin_loss", "poisson_nll_loss", "soft_margin_loss", "triplet_margin_loss"}
__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and not isinstance(_v, type(_util)) and _n not in _FUNCTIONAL_ONLY]
