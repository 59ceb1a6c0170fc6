"""Checkpoints: ``save(obj, path)`` / ``load(path, map_location=None)`` without pickle.

A checkpoint is a zip archive (stored, not compressed) holding

* ``index.json``: the format name and version, the structure of the saved object (every
  container, key and scalar as a tagged JSON node, so int keys stay ints and tuples stay
  tuples) and, for each array, its member name, dtype, shape and sha256;
* ``index.sha256``: the sha256 of ``index.json``;
* ``arrays/<i>.npy``: the raw arrays, written and read by NumPy with pickling disabled.

Loading parses JSON and .npy headers only, so a checkpoint can't execute code; every
digest is checked, so a truncated or damaged file raises a CheckpointError that says so.
Nothing the file declares is trusted before it is checked (checkpoint_archive.py): members
must be stored, not compressed; sizes must fit the file before anything is allocated; only
numeric and bool arrays load.
``save`` writes to a temporary file in the same folder, fsyncs it and renames it over the
target, so a crash mid-write leaves the previous checkpoint intact.

What comes back (as torch.load does with tensors): Tensors are leaves holding the saved
values, with the saved ``requires_grad`` flag (a module's ``state_dict()`` holds detached
tensors, so it loads without gradients); ``.grad``, the graph and memory shared between
different tensors are not saved. A Tensor referenced twice comes back as one object.
nn.Parameter objects come back as Parameters. NumPy arrays and scalars stay NumPy.
"""
import contextlib
import hashlib
import json
import math
import os
import secrets
import struct
import zipfile
import zlib
from collections import OrderedDict

import numpy
from numpy.lib import format as npy_format

from . import checkpoint_archive as archive
from .backend import cuda, device as Device, device_of, move
from .nn.parameter import Parameter
from .tensor import Tensor

FORMAT = "distgrad-checkpoint"
VERSION = 1
_INDEX, _INDEX_DIGEST = "index.json", "index.sha256"


class CheckpointError(RuntimeError):
    """A file that is not a readable distgrad checkpoint (truncated, corrupted, foreign)."""


# ---------------------------------------------------------------------------- saving
def save(obj, f):
    """Write ``obj`` (nested dicts/lists/tuples of Tensors, NumPy arrays, numbers, strings,
    bools, None) to the path or binary file object ``f``."""
    index, arrays = _Encoder().run(obj)
    if hasattr(f, "write"):
        _write_archive(f, index, arrays)
        return
    path = os.path.abspath(os.fspath(f))
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"save: can't write {path}: the folder {folder} does not exist")
    fd, tmp = _create_temporary(folder, os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as out:
            _write_archive(out, index, arrays)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    _fsync_folder(folder)


def _create_temporary(folder, name):
    """(fd, path) of a new file ``.name.<random>.tmp`` in ``folder``. Created with mode 0666
    so that the kernel applies the process umask, giving the permissions of any new file
    (mkstemp would make it 0600, and asking the umask would mean changing it)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    while True:
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:  # another writer's name: draw again
            continue


class _Encoder:
    """Turns an object into a JSON-able tree of tagged nodes plus a list of host arrays."""

    def __init__(self):
        self.arrays = []       # host (NumPy) arrays, in member order
        self.memo = {}         # id(tensor or array) -> array number, so shared objects stay shared
        self.keep = []         # keep encoded objects alive so that their ids stay unique

    def run(self, obj):
        root = self.encode(obj, "obj")
        entries = [{"name": f"arrays/{i}.npy", "dtype": a.dtype.str, "shape": list(a.shape)}
                   for i, a in enumerate(self.arrays)]
        return {"format": FORMAT, "version": VERSION, "root": root, "arrays": entries}, self.arrays

    def array_number(self, obj, array):
        number = self.memo.get(id(obj))
        if number is None:
            host = numpy.asarray(move(array, "cpu"))
            if host.dtype.hasobject:
                raise TypeError(f"save: {type(obj).__name__} of dtype object can't be saved (it would "
                                "need pickle)")
            number = self.memo[id(obj)] = len(self.arrays)
            self.arrays.append(host)
            self.keep.append(obj)
        return number

    def encode(self, obj, where):
        if isinstance(obj, numpy.generic):  # before float: numpy.float64 is a float subclass
            return {"$": "scalar", "array": self.array_number(obj, numpy.asarray(obj))}
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        if isinstance(obj, Tensor):
            node = {"$": "tensor", "array": self.array_number(obj, obj.array), "device": str(obj.device),
                    "requires_grad": bool(obj.requires_grad)}
            if isinstance(obj, Parameter):
                node["parameter"] = True
            return node
        if isinstance(obj, numpy.ndarray) or hasattr(obj, "__cuda_array_interface__"):
            return {"$": "ndarray", "array": self.array_number(obj, obj), "device": str(device_of(obj))}
        if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
            kind = "list" if isinstance(obj, list) else "tuple"
            return {"$": kind, "items": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
        if isinstance(obj, dict):
            keys = list(obj.keys())
            node = {"$": "dict", "keys": [self.encode(k, f"{where} (a key)") for k in keys],
                    "values": [self.encode(obj[k], f"{where}[{k!r}]") for k in keys]}
            if isinstance(obj, OrderedDict):
                node["ordered"] = True
            return node
        if isinstance(obj, bytes):
            return {"$": "bytes", "hex": obj.hex()}
        if isinstance(obj, Device):
            return {"$": "device", "value": str(obj)}
        if isinstance(obj, numpy.dtype):
            return {"$": "dtype", "value": obj.str}
        raise TypeError(f"save: can't save {where} of type {type(obj).__name__}; checkpoints hold "
                        "Tensors, NumPy arrays, numbers, strings, bools, None, bytes and dicts, lists "
                        "and tuples of those")


def _write_archive(out, index, arrays):
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for entry, array in zip(index["arrays"], arrays):
            with zf.open(entry["name"], "w", force_zip64=array.nbytes > (1 << 30)) as member:
                writer = _HashingWriter(member)
                npy_format.write_array(writer, array, allow_pickle=False)
            entry["sha256"] = writer.sha256.hexdigest()
        data = json.dumps(index, separators=(",", ":")).encode("utf-8")
        zf.writestr(_INDEX, data)
        zf.writestr(_INDEX_DIGEST, hashlib.sha256(data).hexdigest())


class _HashingWriter:
    """A write-only file that hashes what passes through it."""

    def __init__(self, raw):
        self.raw = raw
        self.sha256 = hashlib.sha256()

    def write(self, data):
        self.sha256.update(data)
        return self.raw.write(data)


def _fsync_folder(folder):
    """Make the rename itself durable (where the platform allows opening a folder)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ---------------------------------------------------------------------------- loading
_PYTORCH = ("{name} is a PyTorch (pickle) checkpoint, {how}, not a distgrad one; distgrad "
            "does not unpickle files (unpickling can run any code). Convert it once where PyTorch is "
            "installed: state = torch.load(path, weights_only=True); distgrad.save({{k: v.cpu().numpy() for "
            "k, v in state.items()}}, 'model.dgc'); a state_dict of NumPy arrays loads with load_state_dict")
_NPZ = ("{name} is a NumPy .npz archive, not a distgrad checkpoint: read it with numpy.load(path) (pickles "
        "stay off) and pass its arrays to load_state_dict, or write them with distgrad.save")


def load(f, map_location=None):
    """Read a checkpoint written by ``save``.

    ``map_location`` decides where tensors go: None (where they were saved; an error if that
    device is missing here), a device or its name ("cpu", "cuda", "cuda:1"), a dict mapping
    saved device names to new ones ({"cuda:1": "cuda:0"}), or a callable
    ``fn(cpu_tensor, saved_device_name)`` returning a Tensor, a device, or None for the
    default.

    Whatever is wrong with the file (truncated, damaged, crafted, another format), the error
    is a CheckpointError saying what; only the placement on devices raises otherwise.
    """
    if hasattr(f, "read"):
        return _load_from(f, getattr(f, "name", "<file object>"), map_location)
    name = os.fspath(f)
    with open(name, "rb") as fp:  # a missing file is FileNotFoundError, as torch.load
        return _load_from(fp, name, map_location)


def _load_from(fp, name, map_location):
    decoder = _Decoder(name, map_location)
    try:
        return decoder.run(fp)
    except CheckpointError:
        raise
    except archive.Foreign as e:
        raise CheckpointError(f"checkpoint {name} is refused: {e}") from None
    except archive.Refused as e:
        raise CheckpointError(f"checkpoint {name} is corrupted: {e}") from None
    except RecursionError:
        raise CheckpointError(f"checkpoint {name} is corrupted: its structure is nested too deeply to be "
                              "one distgrad wrote") from None
    except zipfile.BadZipFile as e:
        raise CheckpointError(f"checkpoint {name} is corrupted: {e} (a truncated or damaged file; "
                              "was its writing interrupted?)") from None
    except _DAMAGE as e:
        if decoder.placing:  # the device (or the caller's map_location) failed, not the file
            raise
        raise CheckpointError(f"checkpoint {name} is corrupted: {type(e).__name__}: {e}") from None


# What reading a damaged file can raise besides BadZipFile (RuntimeError: Device, Parameter or
# requires_grad refusing a crafted node; CheckpointError itself passes through untouched).
_DAMAGE = archive.ZIP_ERRORS + (zlib.error, struct.error, RuntimeError)


class _Decoder:
    def __init__(self, name, map_location):
        self.name, self.map_location = name, map_location
        self.loaded = {}      # array number -> restored object (shared objects stay shared)
        self.placing = False  # inside place(): its errors are the device's, not the file's

    def corrupted(self, what):
        return archive.Refused(what)

    def run(self, fp):
        start = fp.read(2)
        if len(start) == 2 and start[0] == 0x80 and 2 <= start[1] <= 5:  # a pickle's PROTO opcode
            raise CheckpointError(_PYTORCH.format(name=self.name, how="in torch.save's legacy format (or "
                                                  "another pickle)"))
        size = fp.seek(0, os.SEEK_END)
        fp.seek(0)
        with zipfile.ZipFile(fp) as zf:
            self.zf = zf
            self.members = archive.checked_members(zf, size)
            return self.decode(self.read_index())

    def read_index(self):
        names = list(self.members)
        if _INDEX not in self.members:
            kind = archive.foreign_kind(names)
            if kind is not None:
                raise CheckpointError((_PYTORCH if kind == "pytorch" else _NPZ).format(name=self.name,
                                                                                    how="written by torch.save"))
            raise CheckpointError(f"{self.name} is not a distgrad checkpoint (no {_INDEX} inside)")
        stranger = archive.unexpected_member(names)
        if stranger is not None:
            raise archive.Foreign(f"it holds a member {stranger!r}, which distgrad never writes")
        if _INDEX_DIGEST not in self.members:
            raise self.corrupted(f"{_INDEX_DIGEST} is missing")
        data = self.zf.read(_INDEX)
        expected = self.zf.read(_INDEX_DIGEST).decode("ascii", "replace").strip()
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise self.corrupted(f"the sha256 of {_INDEX} is {actual}, expected {expected}")
        index = json.loads(data.decode("utf-8"))
        if not isinstance(index, dict) or index.get("format") != FORMAT:
            raise CheckpointError(f"{self.name} is not a distgrad checkpoint (format "
                                  f"{index.get('format') if isinstance(index, dict) else None!r})")
        version = index.get("version")
        if type(version) is not int or version > VERSION:
            raise CheckpointError(f"checkpoint {self.name} has format version {version!r}; "
                                  f"this distgrad reads versions up to {VERSION} (upgrade distgrad)")
        entries = index.get("arrays")
        if not isinstance(entries, list):
            raise self.corrupted(f"the index's array list is {type(entries).__name__}, not a list")
        self.entries = [self.checked_entry(i, entry) for i, entry in enumerate(entries)]
        if "root" not in index:
            raise self.corrupted("the index holds no structure ('root')")
        return index["root"]

    def checked_entry(self, number, entry):
        """(member info, dtype, shape, sha256) of array ``number``, every declared size
        checked against the member before anything is read."""
        where = f"array {number} of the index"
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            raise self.corrupted(f"{where} is not an entry with a name, dtype, shape and sha256")
        info = self.members.get(entry.get("name")) if isinstance(entry.get("name"), str) else None
        if info is None:
            raise self.corrupted(f"{where} names the member {entry.get('name')!r}, which is not in the archive")
        dtype = archive.checked_dtype(entry.get("dtype"), info.filename)
        shape = archive.checked_shape(entry.get("shape"), info.filename)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > info.file_size:
            raise self.corrupted(f"{info.filename} declares {dtype.str} {list(shape)} ({nbytes} bytes) in a "
                                 f"member of {info.file_size} bytes")
        return info, dtype, shape, entry["sha256"]

    def array(self, number):
        if type(number) is not int or not 0 <= number < len(self.entries):
            raise self.corrupted(f"reference to array {number!r}, which is not in the index")
        info, dtype, shape, sha256 = self.entries[number]
        data = self.zf.read(info)
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise self.corrupted(f"the sha256 of {info.filename} is {actual}, expected {sha256}")
        return archive.read_npy(data, dtype, shape, info.filename)

    def decode(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not isinstance(node, dict):
            raise self.corrupted(f"unexpected JSON value of type {type(node).__name__} in the structure")
        kind = node.get("$")
        if kind in ("list", "tuple"):
            items = (self.decode(v) for v in self.field(node, "items", list))
            return list(items) if kind == "list" else tuple(items)
        if kind == "dict":
            keys, values = self.field(node, "keys", list), self.field(node, "values", list)
            if len(keys) != len(values):
                raise self.corrupted(f"a dict node with {len(keys)} keys and {len(values)} values")
            pairs = zip([self.decode(k) for k in keys], (self.decode(v) for v in values))
            return OrderedDict(pairs) if node.get("ordered") else dict(pairs)
        if kind in ("tensor", "ndarray", "scalar"):
            number = node.get("array")
            if number not in self.loaded:
                self.loaded[number] = self.restore(kind, node, self.array(number))
            return self.loaded[number]
        if kind == "bytes":
            return bytes.fromhex(self.field(node, "hex", str))
        if kind == "device":
            return Device(self.field(node, "value", str))
        if kind == "dtype":
            return numpy.dtype(self.field(node, "value", str))
        raise self.corrupted(f"unknown node type {kind!r} in the structure")

    def field(self, node, key, kind):
        value = node.get(key)
        if not isinstance(value, kind):
            raise self.corrupted(f"a {node.get('$')} node's {key!r} is {type(value).__name__}, not {kind.__name__}")
        return value

    def restore(self, kind, node, array):
        if kind == "scalar":
            if array.ndim != 0:
                raise self.corrupted(f"a scalar node refers to an array of shape {list(array.shape)}")
            return array[()]
        saved = str(Device(self.field(node, "device", str)))
        self.placing = True
        placed = self.place(array, saved)
        self.placing = False
        if kind == "ndarray":
            return placed
        if node.get("parameter"):
            return Parameter(Tensor._wrap(placed), requires_grad=bool(node.get("requires_grad")))
        tensor = Tensor._wrap(placed)
        if node.get("requires_grad"):
            tensor.requires_grad_(True)
        return tensor

    def place(self, array, saved):
        """``array`` (host) on the device that map_location picks for one saved on ``saved``."""
        where = self.map_location
        if where is None:
            target = saved
        elif isinstance(where, dict):
            target = where.get(saved, saved)
        elif callable(where) and not isinstance(where, (str, Device)):
            result = where(Tensor._wrap(array), saved)
            if isinstance(result, Tensor):
                return result.array
            target = saved if result is None else result
        else:
            target = where
        target = Device(target)
        if target.type == "cuda":
            count = cuda.device_count()
            if count == 0 or (target.index is not None and target.index >= count):
                raise RuntimeError(f"load: checkpoint {self.name} holds a tensor saved on {saved}, to be "
                                   f"loaded on {target}, but this machine has {count} CUDA device(s) "
                                   f"(CUDA available: {cuda.is_available()}); pass map_location='cpu' "
                                   "or another device")
        return move(array, target)
