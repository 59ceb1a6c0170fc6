"""multinomial: category indices drawn from rows of non-negative weights, as torch.multinomial.

Draws come from distgrad's seeded generator (manual_seed) or a given Generator. With
replacement each draw inverts the row's cumulative weights at a uniform number; without
replacement the categories race (exponential arrival times over the weights) and the first
``num_samples`` to arrive are taken, in arrival order: the same distribution as drawing one at
a time and removing it, in one vectorized pass.
"""
import operator

import numpy

from ..errors import OpRuntimeError, OpTypeError
from ..random import generator_for
from ..tensor_base import TensorBase


def multinomial(input, num_samples, replacement=False, *, generator=None):
    """``num_samples`` indices per row of ``input`` (1-D or 2-D), as int64."""
    n = _check_arguments(input, num_samples, replacement)
    weights = input.array
    xp = input.xp
    rows = weights.reshape(-1, weights.shape[-1]).astype(xp.float64)
    if rows.shape[0]:
        _check_weights(xp, rows, n, replacement, tuple(weights.shape))
    rng = generator.rng if generator is not None else generator_for(xp)
    uniform = xp.asarray(rng.random((rows.shape[0], n) if replacement else rows.shape))
    drawn = _with_replacement(xp, rows, uniform) if replacement else _without_replacement(xp, rows, uniform, n)
    return input._wrap(drawn.astype(xp.int64).reshape(weights.shape[:-1] + (n,)))


def _check_arguments(input, num_samples, replacement):
    if not isinstance(input, TensorBase):
        raise OpTypeError("multinomial", f"input must be a Tensor, not {type(input).__name__}")
    if isinstance(num_samples, bool) or not hasattr(num_samples, "__index__"):
        raise OpTypeError("multinomial", f"num_samples must be an int, not {type(num_samples).__name__}")
    n = operator.index(num_samples)
    shape = tuple(input.shape)
    if len(shape) not in (1, 2):
        raise OpRuntimeError("multinomial", f"prob_dist must be 1 or 2 dim, got shape {shape}")
    if input.array.dtype.kind != "f":
        raise OpRuntimeError("multinomial", f"only supports floating-point dtypes for input, got {input.array.dtype}")
    if n <= 0:
        raise OpRuntimeError("multinomial", f"cannot sample n_sample <= 0 samples (num_samples={n})")
    if not replacement and n > shape[-1]:
        raise OpRuntimeError("multinomial", f"cannot sample n_sample > prob_dist.size(-1) samples without "
                                            f"replacement ({n} > {shape[-1]}, shape {shape})")
    return n


def _check_weights(xp, rows, n, replacement, shape):
    """Bad weights raise. Read back in one transfer, also on a GPU: a wrong weight would
    otherwise give indices that look valid (PyTorch stops at a device-side assert)."""
    bad = ~(xp.isfinite(rows) & (rows >= 0))
    fewest_nonzero = (rows > 0).sum(axis=-1).min()
    flags = xp.stack((bad.any().astype(xp.int64), fewest_nonzero.astype(xp.int64)))
    any_bad, fewest_nonzero = (int(v) for v in flags.tolist())
    if any_bad:
        raise OpRuntimeError("multinomial", f"probability tensor contains either `inf`, `nan` or element < 0 "
                                            f"(shape {shape})")
    if fewest_nonzero == 0:
        raise OpRuntimeError("multinomial", f"invalid multinomial distribution (sum of probabilities <= 0): a row "
                                            f"has no positive weight (shape {shape})")
    if not replacement and n > fewest_nonzero:
        raise OpRuntimeError("multinomial", f"invalid multinomial distribution (with replacement=False, not enough "
                                            f"non-zero categories to sample): {n} samples from a row with "
                                            f"{fewest_nonzero} non-zero weights (shape {shape})")


def _with_replacement(xp, rows, uniform):
    """Each draw is the category whose cumulative-weight interval holds it: one searchsorted
    over all rows, each row's cumulative weights (in [0, 1]) shifted by its row number."""
    count, k = rows.shape
    cumulative = xp.cumsum(rows, axis=-1)
    cumulative /= cumulative[:, -1:]
    last_nonzero = k - 1 - xp.argmax(rows[:, ::-1] > 0, axis=-1)
    # From the last positive weight on, exactly 1: a draw u < 1 never lands past it.
    cumulative[xp.arange(k) >= last_nonzero[:, None]] = 1.0
    offsets = xp.arange(count, dtype=xp.float64)[:, None]
    found = xp.searchsorted((cumulative + offsets).ravel(), (uniform + offsets).ravel(), side="right")
    found = found.reshape(uniform.shape) - (offsets * k).astype(found.dtype)
    return xp.minimum(found, last_nonzero[:, None])  # u + row rounded up to the next row


def _without_replacement(xp, rows, uniform, n):
    """The first ``n`` categories to arrive when category i arrives after an exponential time of
    rate ``w_i``; zero weights never arrive."""
    arrival = -xp.log1p(-uniform)  # uniform is in [0, 1): finite
    positive = rows > 0
    times = xp.where(positive, arrival / xp.where(positive, rows, 1.0), numpy.inf)
    return xp.argsort(times, axis=-1)[:, :n]
