"""Gradient compression: a two-method interface, as in Horovod.

    compressed, ctx = compressor.compress(array)
    array = compressor.decompress(compressed, ctx)

``Compression.none`` sends float32 as it is (the default), ``Compression.fp16`` sends
IEEE half precision, ``Compression.bf16`` sends bfloat16 (float32's exponent range, 8 bits
of mantissa), kept as uint16 bit patterns because NumPy has no bfloat16. Only floating
point arrays wider than 16 bits are compressed; others pass through untouched. Any object
with these two methods can be passed as ``compression=``; its compressed arrays are summed
as they are.

Compression pays where the link is the bottleneck (GPUs across nodes), not on host memory:
there the casts and MPI's scalar half-precision sum cost more than the bytes saved
(measurements in benchmarks/NOTES.md).
"""
from ..world.comm.bfloat16 import bfloat16_bits_to_float32, float32_to_bfloat16_bits


class Compressor:
    """Base class: no compression."""

    def compress(self, array):
        return array, None

    def decompress(self, array, ctx):
        return array

    def wire_element(self, ctx):
        """What the compressed numbers are when their dtype alone does not say it."""
        return None

    def __repr__(self):
        return f"Compression.{self.name}"

    name = "none"


class FP16Compressor(Compressor):
    name = "fp16"

    def compress(self, array):
        if array.dtype.kind != "f" or array.dtype.itemsize <= 2:
            return array, None
        return array.astype("float16"), array.dtype

    def decompress(self, array, ctx):
        return array if ctx is None else array.astype(ctx)


class BF16Compressor(Compressor):
    name = "bf16"

    def compress(self, array):
        if array.dtype.kind != "f" or array.dtype.itemsize <= 2:
            return array, None
        return float32_to_bfloat16_bits(array), array.dtype

    def decompress(self, array, ctx):
        if ctx is None:
            return array
        values = bfloat16_bits_to_float32(array)
        return values if values.dtype == ctx else values.astype(ctx)

    def wire_element(self, ctx):
        return None if ctx is None else "bfloat16"


class Compression:
    """The built-in compressors (``compression=Compression.fp16``)."""

    none = Compressor()
    fp16 = FP16Compressor()
    bf16 = BF16Compressor()


def resolve_compression(compression):
    """None, a name ("none", "fp16", "bf16") or an object with compress/decompress."""
    if compression is None:
        return Compression.none
    if isinstance(compression, str):
        found = getattr(Compression, compression.lower(), None)
        if found is None:
            raise ValueError(f"unknown compression {compression!r}: expected 'none', 'fp16' or 'bf16' "
                             "or an object with compress(array) and decompress(array, ctx)")
        return found
    if not (callable(getattr(compression, "compress", None))
            and callable(getattr(compression, "decompress", None))):
        raise TypeError(f"compression must have compress(array) -> (array, ctx) and "
                        f"decompress(array, ctx) -> array, got {compression!r}")
    return compression


def checked_compression(comm, compression, owner):
    """``resolve_compression`` for ``owner`` (DDP, DistributedOptimizer): errors name the rank."""
    try:
        return resolve_compression(compression)
    except (TypeError, ValueError) as exc:
        raise comm.error(f"{owner}: {exc}", type(exc)) from None


def wire_element(compressor, ctx):
    element = getattr(compressor, "wire_element", None)
    return element(ctx) if element is not None else None
