"""Checkpoints: ``save(obj, path)`` / ``load(path, map_location=None)`` without pickle.

A checkpoint is a zip archive (stored, not compressed) holding

* ``index.json``: the format name and version, the structure of the saved object (every
  container, key and scalar as a tagged JSON node, so int keys stay ints and tuples stay
  tuples) and, for each array, its member name, dtype, shape and sha256;
* ``index.sha256``: the sha256 of ``index.json``;
* ``arrays/<i>.npy``: the raw arrays, written and read by NumPy with pickling disabled.

Loading parses JSON and .npy headers only, so a checkpoint can't execute code; every
digest is checked, so a truncated or damaged file raises a CheckpointError that says so.
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
import io
import json
import os
import secrets
import zipfile
import zlib
from collections import OrderedDict

import numpy
from numpy.lib import format as npy_format

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
def load(f, map_location=None):
    """Read a checkpoint written by ``save``.

    ``map_location`` decides where tensors go: None (where they were saved; an error if that
    device is missing here), a device or its name ("cpu", "cuda", "cuda:1"), a dict mapping
    saved device names to new ones ({"cuda:1": "cuda:0"}), or a callable
    ``fn(cpu_tensor, saved_device_name)`` returning a Tensor, a device, or None for the
    default.
    """
    name = os.fspath(f) if not hasattr(f, "read") else getattr(f, "name", "<file object>")
    try:
        with zipfile.ZipFile(f) as zf:
            return _Decoder(zf, name, map_location).run()
    except zipfile.BadZipFile as e:
        raise CheckpointError(f"checkpoint {name} is corrupted: {e} (a truncated or damaged file; "
                              "was its writing interrupted?)") from None
    except (zlib.error, EOFError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"checkpoint {name} is corrupted: {type(e).__name__}: {e}") from None


class _Decoder:
    def __init__(self, zf, name, map_location):
        self.zf, self.name, self.map_location = zf, name, map_location
        self.loaded = {}    # array number -> restored object (shared objects stay shared)

    def corrupted(self, what):
        return CheckpointError(f"checkpoint {self.name} is corrupted: {what}")

    def run(self):
        members = set(self.zf.namelist())
        if _INDEX not in members:
            if any(m.endswith("data.pkl") for m in members):
                raise CheckpointError(f"{self.name} is a PyTorch (pickle) checkpoint, not a distgrad one; "
                                      "distgrad does not unpickle files (it could run code). Load it with "
                                      "PyTorch and save its tensors as NumPy arrays to convert it")
            raise CheckpointError(f"{self.name} is not a distgrad checkpoint (no {_INDEX} inside)")
        data = self.zf.read(_INDEX)
        if _INDEX_DIGEST not in members:
            raise self.corrupted(f"{_INDEX_DIGEST} is missing")
        expected = self.zf.read(_INDEX_DIGEST).decode("ascii", "replace").strip()
        if hashlib.sha256(data).hexdigest() != expected:
            raise self.corrupted(f"the sha256 of {_INDEX} is {hashlib.sha256(data).hexdigest()}, "
                                 f"expected {expected}")
        index = json.loads(data.decode("utf-8"))
        if not isinstance(index, dict) or index.get("format") != FORMAT:
            raise CheckpointError(f"{self.name} is not a distgrad checkpoint (format "
                                  f"{index.get('format') if isinstance(index, dict) else None!r})")
        if not isinstance(index.get("version"), int) or index["version"] > VERSION:
            raise CheckpointError(f"checkpoint {self.name} has format version {index.get('version')!r}; "
                                  f"this distgrad reads versions up to {VERSION} (upgrade distgrad)")
        self.entries = index["arrays"]
        return self.decode(index["root"])

    def array(self, number):
        if not isinstance(number, int) or not 0 <= number < len(self.entries):
            raise self.corrupted(f"reference to array {number!r}, which is not in the index")
        entry = self.entries[number]
        data = self.zf.read(entry["name"])
        actual = hashlib.sha256(data).hexdigest()
        if actual != entry["sha256"]:
            raise self.corrupted(f"the sha256 of {entry['name']} is {actual}, expected {entry['sha256']}")
        try:
            array = npy_format.read_array(io.BytesIO(data), allow_pickle=False)
        except ValueError as e:
            raise self.corrupted(f"{entry['name']} is refused: {e} (nothing was executed)") from None
        if array.dtype.str != entry["dtype"] or list(array.shape) != entry["shape"]:
            raise self.corrupted(f"{entry['name']} holds {array.dtype.str} {list(array.shape)}, the index "
                                 f"says {entry['dtype']} {entry['shape']}")
        return array

    def decode(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not isinstance(node, dict):
            raise self.corrupted(f"unexpected JSON value of type {type(node).__name__} in the structure")
        kind = node.get("$")
        if kind == "list":
            return [self.decode(v) for v in node["items"]]
        if kind == "tuple":
            return tuple(self.decode(v) for v in node["items"])
        if kind == "dict":
            keys = [self.decode(k) for k in node["keys"]]
            pairs = zip(keys, (self.decode(v) for v in node["values"]))
            return OrderedDict(pairs) if node.get("ordered") else dict(pairs)
        if kind in ("tensor", "ndarray", "scalar"):
            number = node["array"]
            if number not in self.loaded:
                self.loaded[number] = self.restore(kind, node, self.array(number))
            return self.loaded[number]
        if kind == "bytes":
            return bytes.fromhex(node["hex"])
        if kind == "device":
            return Device(node["value"])
        if kind == "dtype":
            return numpy.dtype(node["value"])
        raise self.corrupted(f"unknown node type {kind!r} in the structure")

    def restore(self, kind, node, array):
        if kind == "scalar":
            return array[()]
        placed = self.place(array, node["device"])
        if kind == "ndarray":
            return placed
        if node.get("parameter"):
            return Parameter(Tensor._wrap(placed), requires_grad=bool(node["requires_grad"]))
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
