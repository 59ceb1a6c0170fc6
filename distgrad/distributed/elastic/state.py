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
folder in /dev/shm that distgrad-run --max-restarts keeps across attempts) as a temporary
file renamed into place, so a failure in the middle of a commit leaves the previous one
whole. At start-up ``restore`` gathers which snapshots every rank can see, picks the newest
(the most commits), and the lowest rank holding it broadcasts the file's bytes; a snapshot
that cannot be read is skipped for the next newest. Replicas are equal, so any rank's
snapshot serves all. A script run without distgrad-run keeps its snapshots in a folder of
its own, removed when it exits.
"""
import atexit
import glob
import io
import os
import re
import shutil
import sys
import tempfile

from ... import random as dg_random
from ...serialization import CheckpointError, load, save
from ...world.groups import get_rank, get_world_size
from ...world.state import communicator
from ..collectives import all_gather_object, barrier, broadcast_object

_OWN = ("model", "optimizer", "scheduler", "sampler", "commits")
_SNAPSHOT = re.compile(r"rank(\d+)\.(\d+)\.dgc$")


def _snapshot_folder():
    folder = os.environ.get("DISTGRAD_ELASTIC_DIR")
    if folder:
        os.makedirs(folder, exist_ok=True)  # another host's shared memory: made here
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
        rank = get_rank()
        path = os.path.join(self.folder, f"rank{rank}.{self.commits:09d}.dgc")
        try:
            save(self.snapshot(), path)  # a temporary file renamed into place
        except BaseException:
            self.commits -= 1  # this commit did not happen: the previous one stands
            raise
        for old in glob.glob(os.path.join(self.folder, f"rank{rank}.*.dgc")):
            if old != path:  # only once the new one is whole
                os.remove(old)

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
            if data is not None and self._apply(io.BytesIO(data), f"rank {holder}'s snapshot {commits}"):
                return self._said(f"the snapshot of commit {commits} (held by rank {holder})")
        if path is not None and os.path.exists(path):
            if self._apply(path, path):
                return self._said(f"checkpoint {path}")
        return None

    def _apply(self, source, name):
        try:
            state = load(source, map_location=_device_of(self.model))
        except CheckpointError as e:
            print(f"{communicator().prefix} elastic: cannot read {name}, trying an older one: {e}", file=sys.stderr)
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


def _local_snapshots(folder):
    """{commits: path} of the snapshots in this host's folder (any rank's, any attempt's)."""
    found = {}
    for path in glob.glob(os.path.join(folder, "rank*.dgc")):
        match = _SNAPSHOT.search(os.path.basename(path))
        if match:
            found.setdefault(int(match[2]), path)
    return found


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:  # removed meanwhile by its rank's next commit
        return None


def _device_of(model):
    params = list(model.parameters())
    return params[0].device if params else "cpu"
