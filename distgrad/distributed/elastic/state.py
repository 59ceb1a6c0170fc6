"""State: what an elastic job commits every N steps and restores after a restart.

    state = State(model, optimizer, scheduler, sampler, epoch=1, step=0)
    state.restore("ckpt.dgc")       # newest snapshot of any rank, else this disk checkpoint
    for epoch in range(state.epoch, epochs + 1):
        ...
        state.step += 1
        if state.step % 10 == 0:
            state.commit()          # cheap: local shared memory
    state.save("ckpt.dgc")          # durable: rank 0 writes to disk

A commit writes a snapshot to local fast storage (DISTGRAD_ELASTIC_DIR, a folder in /dev/shm
that distgrad-run --max-restarts keeps across attempts, one per host). Replicas are equal, so
one rank per host (local rank 0) writes it: a host's shared memory holds one copy, not one a
rank. The writer has two slot files and overwrites the older one in place, marking it invalid
in its header until the whole snapshot is written, so a failure in the middle of a commit
leaves the previous one whole in the other slot. A slot file is

    header (magic, commits: 0 while being written, data length, metadata length)
    data: each tensor's bytes, at 64-byte aligned offsets from byte 64
    metadata: a pickle of the state with each tensor replaced by (offset, dtype, shape)

A commit must cost little next to the steps between commits (benchmarks/elastic_commit.py),
so each State keeps both of its slot files mapped: the arrays are copied straight into the
mapping, with no pickle of them and no bytes in between, and only the small metadata is
pickled (a fresh file would cost the kernel new pages: 4 to 7 times slower; a pickle of the
whole state written to the file made a commit of the seed MLP twice as long). A snapshot is
neither checksummed nor synced: it is read back only by this job, from a folder only its user may write (0700), out of memory that a lost
process does not take with it. Even so its metadata is read by an unpickler that builds nothing
but containers, numbers, strings, NumPy arrays and array references, and a reference outside
the data or to objects is refused. The durable ``save`` goes through distgrad.save.

At start-up ``restore`` gathers which snapshots every rank can see, picks the newest (the
most commits), and the lowest rank holding it broadcasts the file's bytes; a snapshot that
cannot be read is skipped for the next newest. A script run without distgrad-run keeps its
snapshots in a folder of its own (every rank writes there), removed when it exits.
"""
import atexit
import glob
import io
import math
import mmap
import os
import pickle
import re
import shutil
import struct
import sys
import tempfile
import weakref

import numpy

from ... import random as dg_random
from ...backend import move
from ...creation import tensor
from ...serialization import CheckpointError, load, save
from ...tensor import Tensor
from ...world.groups import get_rank, get_world_size
from ...world.state import communicator, get_local_rank
from ..collectives import all_gather_object, barrier, broadcast_object

_OWN = ("model", "optimizer", "scheduler", "sampler", "commits")
_SLOT = re.compile(r"rank\d+\.[01]\.snapshot$")
_HEADER = struct.Struct("<8sQQQ")  # magic, commits (0 while being written), data length, metadata length
_MAGIC = b"DGSNAP02"
_ALIGN = 64  # of each array's bytes, and of the data after the header
_DATA_START = _ALIGN


def _snapshot_folder():
    folder = os.environ.get("DISTGRAD_ELASTIC_DIR")
    if folder:
        os.makedirs(folder, mode=0o700, exist_ok=True)  # another host's shared memory: made here
        return folder
    root = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    folder = tempfile.mkdtemp(prefix="distgrad-elastic-", dir=root)
    atexit.register(shutil.rmtree, folder, True)
    return folder


class State:
    """Model, optimizer, scheduler, sampler and the user's values (attributes) of a job."""

    def __init__(self, model, optimizer, scheduler=None, sampler=None, **user_values):
        taken = sorted(set(user_values) & set(_OWN + ("commit", "save", "restore", "folder")))
        if taken:
            raise ValueError(f"State: {', '.join(taken)} cannot be a user value: the name is State's own")
        self.model = getattr(model, "module", model)  # DistributedDataParallel: its module's state
        self.optimizer, self.scheduler, self.sampler = optimizer, scheduler, sampler
        self._values = list(user_values)
        for name, value in user_values.items():
            setattr(self, name, value)
        self.commits = 0  # over every attempt of the job: the newest snapshot has the most
        self.folder = _snapshot_folder()
        # distgrad-run's folder is the host's: its ranks share it (a folder of one's own is not)
        self._host_shares_folder = bool(os.environ.get("DISTGRAD_ELASTIC_DIR"))
        self._slots = {}  # path: _Slot, mapped from the first commit into it on
        weakref.finalize(self, _close_slots, self._slots)

    def _parts(self):
        return {"model": self.model, "optimizer": self.optimizer, "scheduler": self.scheduler,
                "sampler": self.sampler}

    def snapshot(self):
        state = {name: part.state_dict() for name, part in self._parts().items() if part is not None}
        state.update(commits=self.commits, world_size=get_world_size(), rng=dg_random.get_rng_state(),
                     values={name: getattr(self, name) for name in self._values})
        return state

    def commit(self):
        """Snapshot the state into local shared memory (every rank calls it, at the same
        steps). The replicas are equal, so one rank per host writes: the others only count
        the commit (restore finds the host's snapshots whichever rank wrote them)."""
        self.commits += 1
        if self._host_shares_folder and get_local_rank() != 0:
            return
        path = os.path.join(self.folder, f"rank{get_rank()}.{self.commits % 2}.snapshot")
        slot = self._slots.setdefault(path, _Slot(path))  # a _Slot maps nothing until written
        try:
            slot.write(self.commits, self.snapshot())
        except BaseException:
            self.commits -= 1  # this commit did not happen: the previous one stands
            raise

    def save(self, path):
        """Write a durable checkpoint to ``path`` (rank 0 writes; collective)."""
        if get_rank() == 0:
            save(self.snapshot(), path)
        barrier()

    def restore(self, path=None):
        """Load the newest snapshot any rank holds, else the checkpoint at ``path`` (when it
        exists); collective. Returns where the state came from, or None (nothing to restore)."""
        mine = _local_snapshots(self.folder)
        everyone = all_gather_object(sorted(mine))
        for commits in sorted({c for seen in everyone for c in seen}, reverse=True):
            holder = min(rank for rank, seen in enumerate(everyone) if commits in seen)
            data = _read(mine[commits]) if get_rank() == holder else None
            data = broadcast_object(data, src=holder)
            if data is not None and self._apply(lambda: _decode(data, _device_of(self.model)),
                                                f"rank {holder}'s snapshot {commits}"):
                return self._said(f"the snapshot of commit {commits} (held by rank {holder})")
        if path is not None and os.path.exists(path):
            if self._apply(lambda: load(path, map_location=_device_of(self.model)), path):
                return self._said(f"checkpoint {path}")
        return None

    def _apply(self, read, name):
        try:
            state = read()
        except (CheckpointError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
            print(f"{communicator().prefix} elastic: cannot read {name}, trying an older one: "
                  f"{type(e).__name__}: {e}", file=sys.stderr)
            return False
        for key, part in self._parts().items():
            if part is not None and state.get(key) is not None:
                part.load_state_dict(state[key])
        dg_random.set_rng_state(state["rng"])
        for key, value in state["values"].items():
            setattr(self, key, value)
        self.commits = state["commits"]
        return True

    def _said(self, source):
        if get_rank() == 0:
            values = ", ".join(f"{k} {getattr(self, k)}" for k in self._values)
            print(f"{communicator().prefix} elastic: restored {source}" + (f": {values}" if values else ""),
                  file=sys.stderr, flush=True)
        return source


class _Slot:
    """One of this rank's two slot files, kept mapped for the life of the State: a commit
    copies each array straight into its pages. What is written into a shared mapping is in the
    file (the page cache; /dev/shm is tmpfs, nothing but that cache) at once and outlives a
    killed process: nothing to flush. Only the host's end loses it, and /dev/shm with it."""

    def __init__(self, path):
        self.path, self.map, self.bytes = path, None, None

    def write(self, commits, snapshot):
        """Overwrite the slot: invalid from the first byte written until the header says
        ``commits`` again, after the arrays and the metadata."""
        layout = _Layout()
        metadata = _pickle_metadata(snapshot, layout)
        end = _DATA_START + layout.length + len(metadata)
        self._reserve(end)
        _HEADER.pack_into(self.map, 0, _MAGIC, 0, 0, 0)
        _copy_arrays(self.bytes[_DATA_START:], layout.arrays)
        self.map[end - len(metadata):end] = metadata
        _HEADER.pack_into(self.map, 0, _MAGIC, commits, layout.length, len(metadata))

    def _reserve(self, size):
        """Map at least ``size`` bytes, with slack so that a slowly growing snapshot (its
        metadata) does not remap at every commit."""
        if self.map is not None and len(self.map) >= size:
            return
        self.close()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            size = max(size + size // 16 + 4096, os.fstat(fd).st_size)
            os.ftruncate(fd, size)
            self.map = mmap.mmap(fd, size)  # keeps its own handle of the file
        finally:
            os.close(fd)
        self.bytes = numpy.frombuffer(self.map, numpy.uint8)

    def close(self):
        if self.map is not None:
            self.bytes = None  # the array exports the mapping's buffer: released before closing it
            self.map.close()
            self.map = None


def _close_slots(slots):
    for slot in slots.values():
        slot.close()


class _ArrayRef:
    """A tensor in a snapshot's metadata: where its bytes lie in the data, its dtype and shape."""
    __slots__ = ("offset", "dtype", "shape")

    def __init__(self, offset, dtype, shape):
        self.offset, self.dtype, self.shape = offset, dtype, shape

    def __reduce__(self):
        return _ArrayRef, (self.offset, self.dtype, self.shape)

    def array_in(self, data):
        """The referenced array, read from ``data``; ValueError when the reference is unsound."""
        dtype, shape, offset = numpy.dtype(self.dtype), tuple(int(n) for n in self.shape), int(self.offset)
        if dtype.hasobject:
            raise ValueError(f"a snapshot array of dtype {dtype}: snapshots hold no objects")
        count = math.prod(shape)
        if min(shape, default=0) < 0 or offset < 0 or offset + count * dtype.itemsize > len(data):
            raise ValueError(f"a snapshot array ({dtype}, {shape} at {offset}) lies outside the "
                             f"{len(data)} bytes of data")
        return numpy.frombuffer(data, dtype, count, offset).reshape(shape)


class _Layout:
    """Where a snapshot's tensors go in the data: one after another, 64-byte aligned."""

    def __init__(self):
        self.arrays, self.length = [], 0  # arrays: (offset, host array)

    def place(self, array):
        offset = -(-self.length // _ALIGN) * _ALIGN
        self.arrays.append((offset, array))
        self.length = offset + array.nbytes
        return _ArrayRef(offset, array.dtype.str, array.shape)


class _MetadataPickler(pickle.Pickler):
    """Pickles a snapshot with each tensor replaced by an _ArrayRef to its place in a layout
    (the pickler walks the tree in C: a third faster than rebuilding it in Python first)."""

    def __init__(self, out, layout):
        super().__init__(out, protocol=5)
        self.layout = layout

    def reducer_override(self, obj):
        if not isinstance(obj, Tensor):
            return NotImplemented
        array = obj.array if isinstance(obj.array, numpy.ndarray) else move(obj.array, "cpu")
        return self.layout.place(array).__reduce__()


def _pickle_metadata(snapshot, layout):
    out = io.BytesIO()
    _MetadataPickler(out, layout).dump(snapshot)
    return out.getvalue()


def _copy_arrays(data, arrays):
    for offset, array in arrays:
        numpy.copyto(data[offset:offset + array.nbytes].view(array.dtype).reshape(array.shape), array)


def _from_refs(tree, data, device):
    if isinstance(tree, _ArrayRef):
        return tensor(tree.array_in(data), device=device)  # tensor() copies: data may go
    if isinstance(tree, dict):
        return {key: _from_refs(value, data, device) for key, value in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_from_refs(value, data, device) for value in tree)
    return tree


# What a snapshot's metadata may name: NumPy's array and scalar rebuilding (a user value may be
# one), OrderedDict (a state_dict is one) and _ArrayRef.
_ALLOWED = {("collections", "OrderedDict"), ("numpy", "dtype"), ("numpy", "ndarray"),
            ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
            ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
            (__name__, "_ArrayRef")}


class _SnapshotUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"a snapshot names {module}.{name}, which snapshots never hold")
        return super().find_class(module, name)


def _decode(snapshot, device):
    """The state in ``snapshot`` (a slot's bytes from its header to its metadata's end)."""
    _, _, data_length, _ = _HEADER.unpack_from(snapshot)
    data = memoryview(snapshot)[_DATA_START:_DATA_START + data_length]
    metadata = _SnapshotUnpickler(io.BytesIO(snapshot[_DATA_START + data_length:])).load()
    return _from_refs(metadata, data, device)


def _unpack_header(raw):
    """(commits, data length, metadata length); commits 0 when no whole snapshot follows."""
    if len(raw) < _HEADER.size:
        return 0, 0, 0
    magic, *fields = _HEADER.unpack_from(raw)
    return tuple(fields) if magic == _MAGIC else (0, 0, 0)


def _read_header(path):
    """(commits, data length, metadata length) of a slot file; see _unpack_header."""
    try:
        with open(path, "rb") as f:
            return _unpack_header(f.read(_HEADER.size))
    except OSError:
        return 0, 0, 0


def _local_snapshots(folder):
    """{commits: path} of the whole snapshots in this host's folder (any rank's, any attempt's)."""
    found = {}
    for path in glob.glob(os.path.join(folder, "rank*.snapshot")):
        if _SLOT.search(os.path.basename(path)):
            commits = _read_header(path)[0]
            if commits:
                found.setdefault(commits, path)
    return found


def _read(path):
    """A slot file's bytes from its header to its metadata's end, or None when it no longer
    holds a whole snapshot."""
    try:
        with open(path, "rb") as f:
            commits, data_length, metadata_length = _unpack_header(f.read(_HEADER.size))
            end = _DATA_START + data_length + metadata_length
            if not commits or os.fstat(f.fileno()).st_size < end:  # lengths checked before any read
                return None
            f.seek(0)
            snapshot = f.read(end)
    except OSError:
        return None
    return snapshot if len(snapshot) == end else None


def _device_of(model):
    params = list(model.parameters())
    return params[0].device if params else "cpu"
