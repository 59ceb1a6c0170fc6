"""Training-state checkpoints: everything needed to resume a job exactly.

Rank 0 writes model, optimizer, scheduler, epoch, step, sampler position and the random
generators' states through ``distgrad.save`` (temporary file, then rename); every rank loads
the same file onto its own device. Resuming from the end of epoch k gives exactly the
parameters of a run that was never interrupted.
"""
import glob
import numbers
import os
import re

from .. import random as dg_random
from ..nn.module import Module
from ..serialization import CheckpointError, load, save
from ..world.groups import get_rank, get_world_size
from ..world.state import barrier
from .activation_checkpoint import checkpoint, checkpoint_sequential  # torch.utils.checkpoint's names

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
        """The newest checkpoint in the directory (by epoch, then step), or None."""
        found = self._checkpoints()
        return found[-1] if found else None

    def load(self, model, optimizer=None, scheduler=None, sampler=None, path=None, map_location=None):
        """Restore from ``path`` (default: the newest) on every rank; returns the saved state
        (``epoch``, ``step``, ``extra``), or None when there is nothing to resume from.

        All or nothing: a checkpoint that is damaged or does not fit the model, optimizer,
        scheduler or sampler raises a CheckpointError and leaves every one of them as it was."""
        path = path or self.latest()
        if path is None:
            return None
        if map_location is None:
            params = list(_unwrap(model).parameters())
            map_location = params[0].device if params else "cpu"
        state = self._read(path, map_location)
        undo = []  # functions that put back what this load has changed so far
        try:
            # Each load_state_dict checks everything before it changes anything; the model's
            # copy, the costly one to undo, goes last, so only the cheap ones ever roll back.
            parts = (("optimizer", "optimizer", optimizer), ("scheduler", "scheduler", scheduler),
                     ("sampler", "sampler", sampler), ("random generator", "rng", _RandomGenerator),
                     ("model", "model", _unwrap(model)))
            for name, key, target in parts:
                saved = state.get(key)
                if target is not None and saved is not None and hasattr(target, "load_state_dict"):
                    undo.append(_snapshot(target))
                    _load_into(path, name, target, saved)
        except BaseException:
            for restore in reversed(undo):
                restore()
            raise
        return state

    def _read(self, path, map_location):
        try:
            state = load(path, map_location=map_location)
            if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
                raise CheckpointError(f"{path} holds no training state (no 'model' entry): it was not written "
                                      "by Checkpointer.save")
            for key in ("epoch", "step"):
                if not isinstance(state.get(key), numbers.Integral) or isinstance(state.get(key), bool):
                    raise CheckpointError(f"checkpoint {path} is corrupted: its {key} is {state.get(key)!r}, "
                                          "not an integer")
        except CheckpointError as e:
            fallback = self._fallback(path)
            hint = f"; the previous checkpoint {fallback} may be intact (load it with path=)" if fallback else ""
            raise CheckpointError(f"{e}{hint}") from None
        return state

    def _fallback(self, path):
        """The checkpoint to resume from instead of ``path``: the newest one older than it."""
        found = self._checkpoints()
        key = _order(path)
        older = [p for p in found if key is None or _order(p) < key]
        return older[-1] if older else None

    def _checkpoints(self):
        """This directory's checkpoints, oldest first, ordered by the numbers in their names
        (as text, checkpoint-10000-... would sort before checkpoint-9999-...)."""
        found = [p for p in glob.glob(os.path.join(self.directory, "checkpoint-*.dgc")) if _PATTERN.search(p)]
        return sorted(found, key=_order)

    def _prune(self):
        found = self._checkpoints()
        for old in found[:-self.keep] if self.keep else []:
            os.remove(old)
        # Temporary files of writes that a crash interrupted (save() removes its own on errors).
        for stale in glob.glob(os.path.join(self.directory, ".checkpoint-*.dgc.*.tmp")):
            os.remove(stale)


def _order(path):
    """(epoch, step) of a checkpoint's file name, or None for another name."""
    match = _PATTERN.search(os.path.basename(os.fspath(path)))
    return (int(match.group(1)), int(match.group(2))) if match else None


def _load_into(path, name, target, saved):
    try:
        target.load_state_dict(saved)
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
        detail = str(e) if isinstance(e, (RuntimeError, ValueError)) else f"{type(e).__name__}: {e}"
        raise CheckpointError(f"checkpoint {path} does not fit this {name}: {detail} (nothing was loaded)") from None


def _snapshot(target):
    """A function that puts ``target``'s state back. An optimizer's load replaces ``state``
    and ``param_groups`` wholesale, so its old attributes are enough (no copy of its
    tensors); the rest go back through their own state_dict. The model is never undone: it
    loads last, and its load_state_dict changes nothing unless everything fits."""
    if isinstance(target, Module):
        return lambda: None
    if hasattr(target, "param_groups"):
        attributes = dict(vars(target))
        return lambda: (vars(target).clear(), vars(target).update(attributes))
    saved = target.state_dict()
    return lambda: target.load_state_dict(saved)


class _RandomGenerator:
    """The global generator as something with a state_dict, for loading and undoing."""

    @staticmethod
    def state_dict():
        return dg_random.get_rng_state()

    @staticmethod
    def load_state_dict(state):
        dg_random.set_rng_state(state)
