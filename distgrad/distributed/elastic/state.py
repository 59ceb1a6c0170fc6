"""State: what an elastic job commits every N steps and restores after a restart.

    state = State(model, optimizer, scheduler, sampler, epoch=1, step=0)
    state.restore("ckpt.dgc")       # newest snapshot of any rank, else this disk checkpoint
    for epoch in range(state.epoch, epochs + 1):
        ...
        state.step += 1
        if state.step % 10 == 0:
            state.commit()          # cheap: local shared memory
    state.save("ckpt.dgc")          # durable: rank 0 writes to disk

A commit writes the snapshot of every rank to local fast storage (DISTGRAD_ELASTIC_DIR, a
folder in /dev/shm that distgrad-run --max-restarts keeps across attempts). Each rank has two
slot files and overwrites the older one in place (a fresh file would cost the kernel new
pages: 4 to 7 times slower), marking it invalid in its header until the whole payload is
written, so a failure in the middle of a commit leaves the previous one whole in the other
slot. A snapshot is a pickle of host arrays, neither checksummed nor synced: it is read back
only by this job, from a folder only its user may write (0700), out of memory that a lost
process does not take with it, and it must cost little next to the steps between commits
(benchmarks/elastic_commit.py). Even so it is read by an unpickler that builds nothing but
containers, numbers, strings and NumPy arrays. The durable ``save`` goes through distgrad.save. At start-up ``restore`` gathers which snapshots every rank can see, picks the newest
(the most commits), and the lowest rank holding it broadcasts the file's bytes; a snapshot
that cannot be read is skipped for the next newest. Replicas are equal, so any rank's
snapshot serves all. A script run without distgrad-run keeps its snapshots in a folder of
its own, removed when it exits.
"""
import atexit
import glob
import io
import os
import pickle
import re
import shutil
import struct
import sys
import tempfile

from ... import random as dg_random
from ...creation import tensor
from ...serialization import CheckpointError, load, save
from ...tensor import Tensor
from ...world.groups import get_rank, get_world_size
from ...world.state import communicator
from ..collectives import all_gather_object, barrier, broadcast_object

_OWN = ("model", "optimizer", "scheduler", "sampler", "commits")
_SLOT = re.compile(r"rank\d+\.[01]\.snapshot$")
_HEADER = struct.Struct("<8sQQ")  # magic, commits (0 while being written), payload length
_MAGIC = b"DGSNAP01"


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

    def _parts(self):
        return {"model": self.model, "optimizer": self.optimizer, "scheduler": self.scheduler,
                "sampler": self.sampler}

    def snapshot(self):
        state = {name: part.state_dict() for name, part in self._parts().items() if part is not None}
        state.update(commits=self.commits, world_size=get_world_size(), rng=dg_random.get_rng_state(),
                     values={name: getattr(self, name) for name in self._values})
        return state

    def commit(self):
        """Snapshot the state into local shared memory (every rank, at the same steps)."""
        self.commits += 1
        path = os.path.join(self.folder, f"rank{get_rank()}.{self.commits % 2}.snapshot")
        try:
            _write_slot(path, self.commits, _to_host(self.snapshot()))
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
            if data is not None and self._apply(lambda: _from_host(_loads(data), _device_of(self.model)),
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


class _HostArray:
    """A tensor's values in a snapshot, as a NumPy array (pickled with the array's buffer)."""
    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array

    def __reduce__(self):
        return _HostArray, (self.array,)


def _to_host(tree):
    if isinstance(tree, Tensor):
        return _HostArray(tree.detach().cpu().numpy())
    if isinstance(tree, dict):
        return {key: _to_host(value) for key, value in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_to_host(value) for value in tree)
    return tree


def _from_host(tree, device):
    if isinstance(tree, _HostArray):
        return tensor(tree.array, device=device)
    if isinstance(tree, dict):
        return {key: _from_host(value, device) for key, value in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_from_host(value, device) for value in tree)
    return tree


def _dump(snapshot, out):
    pickle.dump(snapshot, out, protocol=5)


# What a snapshot's pickle may name: NumPy's array and scalar rebuilding, and _HostArray.
_ALLOWED = {("numpy", "dtype"), ("numpy", "ndarray"), ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"), ("numpy.core.numeric", "_frombuffer"),
            ("numpy._core.numeric", "_frombuffer"), (__name__, "_HostArray")}


class _SnapshotUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"a snapshot names {module}.{name}, which snapshots never hold")
        return super().find_class(module, name)


def _loads(data):
    return _SnapshotUnpickler(io.BytesIO(data)).load()


def _write_slot(path, commits, snapshot):
    """Overwrite the slot file at ``path``: invalid from the first byte written until the
    header says ``commits`` again, after the whole payload."""
    with open(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+b") as out:
        out.write(_HEADER.pack(_MAGIC, 0, 0))
        out.flush()
        _dump(snapshot, out)
        length = out.tell() - _HEADER.size
        out.flush()
        out.seek(0)
        out.write(_HEADER.pack(_MAGIC, commits, length))


def _read_header(path):
    """(commits, payload length) of a slot file, commits 0 when it holds no whole snapshot."""
    try:
        with open(path, "rb") as f:
            magic, commits, length = _HEADER.unpack(f.read(_HEADER.size))
    except (OSError, struct.error):
        return 0, 0
    return (commits, length) if magic == _MAGIC else (0, 0)


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
    """The payload of a slot file, or None when it no longer holds a whole snapshot."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    magic, commits, length = _HEADER.unpack_from(data) if len(data) >= _HEADER.size else (None, 0, 0)
    if magic != _MAGIC or not commits or len(data) < _HEADER.size + length:
        return None
    return data[_HEADER.size:_HEADER.size + length]


def _device_of(model):
    params = list(model.parameters())
    return params[0].device if params else "cpu"
