"""Training-state checkpoints: everything needed to resume a job exactly.

Rank 0 writes model, optimizer, scheduler, epoch, step, sampler position and the random
generators' states through ``distgrad.save`` (temporary file, then rename); every rank loads
the same file onto its own device. Resuming from the end of epoch k gives exactly the
parameters of a run that was never interrupted.
"""
import glob
import os
import re

from .. import random as dg_random
from ..serialization import CheckpointError, load, save
from ..world.groups import get_rank, get_world_size
from ..world.state import barrier

_NAME = "checkpoint-{epoch:04d}-{step:08d}.dgc"
_PATTERN = re.compile(r"checkpoint-(\d+)-(\d+)\.dgc$")


def _unwrap(model):
    return getattr(model, "module", model)


class Checkpointer:
    """Save every ``every`` epochs into ``directory``, keeping the newest ``keep`` files."""

    def __init__(self, directory, every=1, keep=2):
        if every < 1:
            raise ValueError(f"Checkpointer: every must be >= 1 epoch, got {every}")
        self.directory, self.every, self.keep = directory, every, keep

    def due(self, epoch):
        """Whether the end of (1-based) ``epoch`` is a checkpoint point."""
        return epoch % self.every == 0

    def save(self, epoch, step, model, optimizer=None, scheduler=None, sampler=None, extra=None):
        """Collective: call on every rank; rank 0 writes, the others wait for it."""
        path = os.path.join(self.directory, _NAME.format(epoch=epoch, step=step))
        if get_rank() == 0:
            os.makedirs(self.directory, exist_ok=True)
            state = {
                "epoch": epoch,
                "step": step,
                "model": _unwrap(model).state_dict(),
                "optimizer": optimizer.state_dict() if optimizer is not None else None,
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "sampler": sampler.state_dict() if hasattr(sampler, "state_dict") else None,
                "rng": dg_random.get_rng_state(),
                "world_size": get_world_size(),
                "extra": extra,
            }
            save(state, path)
            self._prune()
        barrier()
        return path

    def latest(self):
        """The newest checkpoint in the directory, or None."""
        found = []
        for name in glob.glob(os.path.join(self.directory, "checkpoint-*.dgc")):
            match = _PATTERN.search(name)
            if match:
                found.append((int(match.group(1)), int(match.group(2)), name))
        return max(found)[2] if found else None

    def load(self, model, optimizer=None, scheduler=None, sampler=None, path=None, map_location=None):
        """Restore from ``path`` (default: the newest) on every rank; returns the saved state
        (``epoch``, ``step``, ``extra``), or None when there is nothing to resume from."""
        path = path or self.latest()
        if path is None:
            return None
        if map_location is None:
            params = list(_unwrap(model).parameters())
            map_location = params[0].device if params else "cpu"
        state = self._read(path, map_location)
        try:
            _unwrap(model).load_state_dict(state["model"])
        except RuntimeError as e:  # another model: the keys and shapes that differ are in e
            raise RuntimeError(f"checkpoint {path} does not fit this model: {e}") from None
        if optimizer is not None and state.get("optimizer") is not None:
            optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        if sampler is not None and state.get("sampler") is not None and hasattr(sampler, "load_state_dict"):
            sampler.load_state_dict(state["sampler"])
        if state.get("rng") is not None:
            dg_random.set_rng_state(state["rng"])
        return state

    def _read(self, path, map_location):
        try:
            state = load(path, map_location=map_location)
        except CheckpointError as e:
            older = [p for p in self._checkpoints() if os.path.abspath(p) != os.path.abspath(path)]
            hint = f"; the older checkpoint {older[-1]} may be intact (load it with path=)" if older else ""
            raise CheckpointError(f"{e}{hint}") from None
        if not isinstance(state, dict) or "model" not in state:
            raise CheckpointError(f"{path} holds no training state (no 'model' entry): it was not written "
                                  "by Checkpointer.save")
        return state

    def _checkpoints(self):
        return sorted(p for p in glob.glob(os.path.join(self.directory, "checkpoint-*.dgc")) if _PATTERN.search(p))

    def _prune(self):
        found = self._checkpoints()
        for old in found[:-self.keep] if self.keep else []:
            os.remove(old)
        # Temporary files of writes that a crash interrupted (save() removes its own on errors).
        for stale in glob.glob(os.path.join(self.directory, ".checkpoint-*.dgc.*.tmp")):
            os.remove(stale)
