"""Reading a checkpoint's zip archive without trusting it.

Everything a damaged or crafted file can declare is checked before it is acted on: members
must be stored (a compressed member could expand a small file into gigabytes), unencrypted
and inside the file; an array's declared dtype must be numeric or bool and its declared
shape must match the bytes actually present, before any array is allocated. Each check that
fails raises ``Refused`` with what is wrong; serialization.py turns it into a CheckpointError.
"""
import io
import math
import re
import zipfile

import numpy
from numpy.lib import format as npy_format

# Zip flag bits distgrad's writer may set: 0x08 (sizes in a trailing data descriptor, when
# the output is not seekable) and 0x800 (UTF-8 names). Any other (encryption, patched data,
# ...) means a file distgrad did not write.
_ALLOWED_FLAGS = 0x08 | 0x800
_MEMBER_NAME = re.compile(r"(index\.json|index\.sha256|arrays/\d+\.npy)\Z")
# What a zip reader raises on a damaged archive, beyond BadZipFile (found by fuzzing).
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, KeyError, TypeError,
              IndexError, OverflowError, NotImplementedError, UnicodeError)
_DTYPE_KINDS = {"b": "bool", "i": "signed integer", "u": "unsigned integer", "f": "floating point",
                "c": "complex"}


class Refused(Exception):
    """The archive is damaged: ``str(self)`` says how."""


class Foreign(Refused):
    """The archive is intact as a zip but holds what distgrad never writes (compressed or
    encrypted members, non-numeric arrays, ...): refused rather than interpreted."""


def checked_members(zf, file_size):
    """{name: ZipInfo} of ``zf``, every member checked to be one distgrad writes: a known
    name, once, stored uncompressed, unencrypted, its declared sizes inside the file."""
    members = {}
    for info in zf.infolist():
        name = info.filename
        if name in members:
            raise Refused(f"the archive holds two members named {name!r}")
        if info.compress_type != zipfile.ZIP_STORED:
            raise Foreign(f"member {name!r} is compressed (method {info.compress_type}); distgrad writes "
                          "members stored, and refuses compressed ones (a small file could expand to any size)")
        if info.flag_bits & ~_ALLOWED_FLAGS:
            raise Foreign(f"member {name!r} has zip flags {info.flag_bits:#x} (encryption or other features "
                          "distgrad never writes)")
        if info.compress_size != info.file_size:
            raise Refused(f"member {name!r} declares {info.file_size} bytes stored in {info.compress_size}")
        if info.header_offset < 0 or info.header_offset + info.compress_size > file_size:
            raise Refused(f"member {name!r} declares {info.compress_size} bytes at offset {info.header_offset}, "
                          f"beyond the end of the {file_size}-byte file (truncated?)")
        members[name] = info
    return members


def foreign_kind(names):
    """What a zip archive without a distgrad index is, when recognisable, else None."""
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return "pytorch"
    if names and all(n.endswith(".npy") for n in names):
        return "npz"
    return None


def unexpected_member(names):
    """The first member name distgrad never writes, or None."""
    return next((n for n in names if not _MEMBER_NAME.match(n)), None)


def checked_dtype(text, where):
    """The dtype a string from the index names, when it is a plain numeric or bool one."""
    if not isinstance(text, str):
        raise Refused(f"{where}: the dtype {text!r} is not a dtype string")
    try:
        dtype = numpy.dtype(text)
    except (TypeError, ValueError, SyntaxError) as e:
        raise Refused(f"{where}: {text!r} is not a dtype ({e})") from None
    refuse_dtype(dtype, where)
    return dtype


def refuse_dtype(dtype, where):
    """Only numeric and bool arrays load: strings, bytes, dates, objects and structured
    records have no Tensor meaning (and one copied into a weight is silent garbage)."""
    if dtype.kind not in _DTYPE_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise Foreign(f"{where} has dtype {dtype.str}, which holds {_describe(dtype)}; only numeric and bool "
                      "arrays load (nothing was executed)")


def checked_shape(shape, where):
    if not isinstance(shape, (list, tuple)) or not all(type(d) is int and d >= 0 for d in shape):
        raise Refused(f"{where}: the shape {shape!r} is not a list of non-negative integers")
    return tuple(shape)


def read_npy(data, dtype, shape, where):
    """The array in the .npy bytes ``data``; its header must declare ``dtype`` and ``shape``
    and the data after it must be exactly that many bytes, checked before allocating."""
    stream = io.BytesIO(data)
    try:
        version = npy_format.read_magic(stream)
        if version == (1, 0):
            header = npy_format.read_array_header_1_0(stream)
        elif version == (2, 0):
            header = npy_format.read_array_header_2_0(stream)
        else:
            raise Foreign(f"{where} has .npy format version {version}, which distgrad never writes")
    except ValueError as e:
        raise Refused(f"{where} is not a readable .npy array: {e} (nothing was executed)") from None
    saved_shape, fortran_order, saved_dtype = header
    refuse_dtype(saved_dtype, where)
    if saved_dtype != dtype or tuple(saved_shape) != shape:
        raise Refused(f"{where} holds {saved_dtype.str} {list(saved_shape)}, the index says {dtype.str} "
                      f"{list(shape)}")
    offset = stream.tell()
    expected = math.prod(shape) * dtype.itemsize
    if len(data) - offset != expected:
        raise Refused(f"{where} declares {dtype.str} {list(shape)} ({expected} bytes) but holds "
                      f"{len(data) - offset} bytes of data")
    flat = numpy.frombuffer(data, dtype, count=math.prod(shape), offset=offset)
    array = flat.reshape(shape[::-1]).T if fortran_order else flat.reshape(shape)
    native = dtype.newbyteorder("=")
    return array.astype(native, order="K", copy=True)  # owned, writable, in this machine's byte order


def _describe(dtype):
    return {"U": "strings", "S": "bytes", "O": "Python objects", "M": "dates", "m": "time spans",
            "V": "raw or structured records"}.get(dtype.kind, "a record" if dtype.fields else "not numeric")
