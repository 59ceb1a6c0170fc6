"""The IDX file format of MNIST-like datasets: a big-endian header, then raw array data.

Header: two zero bytes, a type code, the number of dimensions, then one 32-bit big-endian
size per dimension. Files may be gzip-compressed; the gzip magic decides, not the name.
"""
import gzip
import hashlib
import struct

import numpy

_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(stored):
    return stored[:2] == _GZIP_MAGIC


def read_file(path):
    """``(stored, content)``: the file's bytes, and the same decompressed if it is gzip."""
    with open(path, "rb") as f:
        stored = f.read()
    if not is_gzip(stored):
        return stored, stored
    try:
        return stored, gzip.decompress(stored)
    except (OSError, EOFError, ValueError) as e:  # truncated or damaged gzip stream
        raise RuntimeError(f"{path}: the gzip data is truncated or corrupted ({e}); delete the file "
                           "and copy or download it again") from None


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def parse_idx(data, source, expected_shape=None):
    """The array stored in IDX bytes ``data`` (native byte order, writable).

    ``source`` names the file in errors; ``expected_shape`` checks the header's sizes.
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _TYPES:
        raise RuntimeError(f"{source} is not an IDX file (header bytes {bytes(data[:4]).hex()})")
    ndim = data[3]
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise RuntimeError(f"{source} is truncated: its IDX header is incomplete")
    shape = struct.unpack(f">{ndim}I", data[4:offset])
    if expected_shape is not None and tuple(shape) != tuple(expected_shape):
        raise RuntimeError(f"{source}: the IDX header says shape {tuple(shape)}, expected "
                           f"{tuple(expected_shape)} (is it the right file?)")
    dtype = numpy.dtype(_TYPES[data[2]])
    needed = offset + dtype.itemsize * int(numpy.prod(shape, dtype=numpy.int64))
    if len(data) != needed:
        state = "truncated" if len(data) < needed else "longer than its header says"
        raise RuntimeError(f"{source} is {state}: {len(data)} bytes, expected {needed} for shape {tuple(shape)}")
    array = numpy.frombuffer(data, dtype=dtype, offset=offset).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)  # own, writable, native order
