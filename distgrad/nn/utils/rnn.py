"""Packed and padded batches of sequences of different lengths (torch.nn.utils.rnn).

A PackedSequence holds the timesteps of a batch sorted by decreasing length, time-major:
``data`` is (sum of lengths, *), its first ``batch_sizes[0]`` rows are every sequence's
step 0, then the ``batch_sizes[1]`` sequences still running at step 1, and so on.
"""
from collections import namedtuple

import numpy

from ... import creation, dtypes
from ...ops.shape import cat, stack
from ...tensor import Tensor

_Fields = namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])


class PackedSequence(_Fields):
    """As PyTorch's: ``batch_sizes`` is a CPU int64 tensor; ``sorted_indices`` takes the
    original batch to the sorted one (None when it was sorted), ``unsorted_indices`` back."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if batch_sizes is None:
            raise ValueError("PackedSequence: batch_sizes is required; build one with pack_padded_sequence "
                             "or pack_sequence")
        if not isinstance(batch_sizes, Tensor):
            batch_sizes = creation.tensor(list(batch_sizes), dtype=dtypes.int64)
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = _inverse(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def _with_data(self, data):
        return type(self)(data, self.batch_sizes, self.sorted_indices, self.unsorted_indices)

    def to(self, *args, **kwargs):
        data = self.data.to(*args, **kwargs)
        return self if data is self.data else self._with_data(data)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self._with_data(self.data.cuda(device))

    def float(self):
        return self._with_data(self.data.float())

    def double(self):
        return self._with_data(self.data.double())

    @property
    def is_cuda(self):
        return self.data.is_cuda


def _inverse(indices):
    order = numpy.asarray(indices.tolist() if isinstance(indices, Tensor) else indices)
    inverse = numpy.empty_like(order)
    inverse[order] = numpy.arange(len(order))
    return creation.tensor(inverse.tolist(), dtype=dtypes.int64)


def _host_ints(values, what):
    if isinstance(values, Tensor):
        if values.is_cuda:
            raise RuntimeError(f"{what}: 'lengths' must be a list or a 1D CPU int64 tensor, got a tensor on "
                               f"{values.device}; move it with .cpu() first")
        values = values.tolist()
    return [int(v) for v in values]


def packed_positions(batch_sizes, batch):
    """The flat (time * batch + row) index of each packed row in the padded (T, batch) layout."""
    return numpy.concatenate([t * batch + numpy.arange(n) for t, n in enumerate(batch_sizes)])


def padded_to_packed(padded, batch_sizes):
    """The packed rows of a sorted, time-major padded batch (T, B, *)."""
    T, B = padded.shape[:2]
    flat = padded.reshape((T * B,) + tuple(padded.shape[2:]))
    return flat[padded.xp.asarray(packed_positions(batch_sizes, B))]


def packed_to_padded(data, batch_sizes, total_length=None, padding_value=0.0):
    """The sorted, time-major padded batch (total_length or T, B, *) of packed ``data``."""
    T = total_length or len(batch_sizes)
    B = batch_sizes[0]
    rest = tuple(data.shape[1:])
    gather = numpy.full(T * B, data.shape[0])  # the padding row, appended after the data
    gather[packed_positions(batch_sizes, B)] = numpy.arange(data.shape[0])
    source = cat([data, data.new_full((1,) + rest, padding_value)])
    return source[data.xp.asarray(gather)].reshape((T, B) + rest)


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch (T, B, *) (or (B, T, *)) given each sequence's length."""
    lengths = _host_ints(lengths, "pack_padded_sequence")
    batch_dim = 0 if batch_first else 1
    if len(lengths) != input.shape[batch_dim]:
        raise ValueError(f"pack_padded_sequence: expected len(lengths) to be equal to batch_size, but got "
                         f"{len(lengths)} (batch_size={input.shape[batch_dim]})")
    if any(n <= 0 for n in lengths):
        raise RuntimeError("pack_padded_sequence: length of all samples has to be greater than 0, but found an "
                           "element in 'lengths' that is <= 0")
    sorted_indices = None
    if enforce_sorted:
        if any(a < b for a, b in zip(lengths, lengths[1:])):
            raise RuntimeError("pack_padded_sequence: `lengths` array must be sorted in decreasing order when "
                               "`enforce_sorted` is True; pass enforce_sorted=False to sort them internally, "
                               "or sort them yourself")
    else:
        order = sorted(range(len(lengths)), key=lambda b: -lengths[b])  # stable, as PyTorch's
        sorted_indices = creation.tensor(order, dtype=dtypes.int64)
        lengths = [lengths[b] for b in order]
        input = input.index_select(batch_dim, sorted_indices.to(input.device))
    if batch_first:
        input = input.transpose(0, 1)
    longest = lengths[0]
    if longest > input.shape[0]:
        raise RuntimeError(f"pack_padded_sequence: a length of {longest} is longer than the input's "
                           f"{input.shape[0]} timesteps")
    batch_sizes = [sum(1 for n in lengths if n > t) for t in range(longest)]
    return PackedSequence(padded_to_packed(input[:longest], batch_sizes), batch_sizes, sorted_indices)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The padded batch of a PackedSequence and the lengths (an int64 tensor), in the original order."""
    batch_sizes = sequence.batch_sizes.tolist()
    if total_length is not None and total_length < len(batch_sizes):
        raise ValueError(f"pad_packed_sequence: expected total_length to be at least the length of the longest "
                         f"sequence in the input, but got total_length={total_length} and max sequence "
                         f"length being {len(batch_sizes)}")
    padded = packed_to_padded(sequence.data, batch_sizes, total_length, padding_value)
    lengths = [sum(1 for n in batch_sizes if n > b) for b in range(batch_sizes[0])]
    if sequence.unsorted_indices is not None:
        order = sequence.unsorted_indices
        padded = padded.index_select(1, order.to(padded.device))
        lengths = [lengths[b] for b in order.tolist()]
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, creation.tensor(lengths, dtype=dtypes.int64)


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack tensors of shapes (L_i, *) into (max L, B, *) (or (B, max L, *)), padded."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"pad_sequence: padding_side must be 'left' or 'right', got {padding_side!r}")
    if isinstance(sequences, Tensor):
        sequences = list(sequences.unbind(0))
    if not sequences:
        raise RuntimeError("pad_sequence: received an empty list of sequences")
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        missing = longest - s.shape[0]
        if missing:
            pad = s.new_full((missing,) + tuple(s.shape[1:]), padding_value)
            s = cat([s, pad] if padding_side == "right" else [pad, s])
        padded.append(s)
    return stack(padded, 0 if batch_first else 1)


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of tensors (L_i, *) of decreasing lengths (or any, with enforce_sorted=False)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of unpadded sequences of a padded batch."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [seq[:n] for seq, n in zip(padded_sequences, _host_ints(lengths, "unpad_sequence"))]


def unpack_sequence(packed_sequences):
    """The list of sequences a PackedSequence holds, in the original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


__all__ = ["PackedSequence", "pack_padded_sequence", "pack_sequence", "pad_packed_sequence", "pad_sequence",
           "unpack_sequence", "unpad_sequence"]
