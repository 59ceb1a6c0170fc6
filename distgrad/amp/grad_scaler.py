"""Dynamic loss scaling, as torch.amp.GradScaler decides it.

    scaler = GradScaler("cpu")
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)              # optional: before clipping
    clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)                  # skipped when a gradient is inf or NaN
    scaler.update()

The scale is a float32 number and every decision (skip, back off, grow after
``growth_interval`` clean steps) is PyTorch's, so a run follows PyTorch's step for step.
In a job of several ranks the inf/NaN verdict is the maximum over the ranks (one tiny
all-reduce per step), so every rank skips the same steps even when gradients are not
averaged before the check (a DistributedOptimizer averages them inside step()).

The module imports nothing of distgrad at load time: the ops import this package (for
autocast), so it must stay below them.
"""
import enum
import warnings

import numpy

from ..backend import cuda as _cuda_queries
from ..backend import get_array_module


class _Stage(enum.Enum):
    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _fresh_optimizer_state():
    return {"stage": _Stage.READY, "found_inf": None}


class GradScaler:
    def __init__(self, device="cuda", init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        self._device = str(device)
        if enabled and self._device.startswith("cuda") and not _cuda_queries.is_available():
            warnings.warn("GradScaler is enabled, but CUDA is not available; disabling it "
                          "(pass device='cpu' to scale on the CPU).")
            enabled = False
        self._enabled = bool(enabled)
        if self._enabled:
            if growth_factor <= 1.0:
                raise ValueError(f"GradScaler: growth_factor must be > 1.0, got {growth_factor}")
            if backoff_factor >= 1.0:
                raise ValueError(f"GradScaler: backoff_factor must be < 1.0, got {backoff_factor}")
        self._init_scale = init_scale
        self._growth_factor = growth_factor
        self._backoff_factor = backoff_factor
        self._growth_interval = growth_interval
        self._init_growth_tracker = 0
        self._scale = None  # numpy float32, made on the first scale() (lazily, as PyTorch)
        self._growth_tracker = None
        self._per_optimizer = {}

    # ----------------------------------------------------------------- the training step
    def scale(self, outputs):
        """``outputs`` times the scale: a tensor, or any nesting of lists/tuples of tensors.
        As PyTorch's, the scale is a 0-d float32 tensor, so a float16 output stays float16."""
        if not self._enabled:
            return outputs
        if self._scale is None:
            self._lazy_init()
        if hasattr(outputs, "new_tensor"):
            return outputs * outputs.new_tensor(float(self._scale), dtype=numpy.float32)
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise ValueError(f"GradScaler.scale: outputs must be a Tensor or a list/tuple of them, "
                         f"got {type(outputs).__name__}")

    def unscale_(self, optimizer):
        """Divide ``optimizer``'s gradients by the scale, in place, and note whether any is
        inf or NaN (on any rank). Once per optimizer between two update() calls."""
        if not self._enabled:
            return
        self._check_initialized("unscale_")
        state = self._optimizer_state(optimizer)
        if state["stage"] is _Stage.UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        if state["stage"] is _Stage.STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        inv_scale = numpy.float32(1.0 / numpy.float64(self._scale))  # as PyTorch: reciprocal in double
        found = self._unscale_grads(optimizer, inv_scale)
        state["found_inf"] = _agree_across_ranks(found)
        state["stage"] = _Stage.UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """``optimizer.step(*args, **kwargs)`` unless a gradient was inf or NaN; unscales
        first if unscale_() was not called. Returns the step's value, None when skipped."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        self._check_initialized("step")
        state = self._optimizer_state(optimizer)
        if state["stage"] is _Stage.STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] is _Stage.READY:
            self.unscale_(optimizer)
        retval = None if state["found_inf"] else optimizer.step(*args, **kwargs)
        state["stage"] = _Stage.STEPPED
        return retval

    def update(self, new_scale=None):
        """Back the scale off after a skipped step, grow it after ``growth_interval`` clean
        ones; or set it to ``new_scale`` (a float or a 1-element float32 tensor)."""
        if not self._enabled:
            return
        self._check_initialized("update")
        if new_scale is not None:
            self._scale = numpy.float32(_new_scale_value(new_scale))
        else:
            found = [s["found_inf"] for s in self._per_optimizer.values() if s["found_inf"] is not None]
            if not found:
                raise AssertionError("No inf checks were recorded prior to update().")
            self._update_scale(sum(found) > 0)
        self._per_optimizer = {}

    def _update_scale(self, found_inf):
        # PyTorch's _amp_update_scale_: products in double, stored as float32
        if found_inf:
            self._scale = numpy.float32(numpy.float64(self._scale) * self._backoff_factor)
            self._growth_tracker = 0
            return
        successful = self._growth_tracker + 1
        if successful == self._growth_interval:
            grown = numpy.float32(numpy.float64(self._scale) * self._growth_factor)
            if numpy.isfinite(grown):
                self._scale = grown
            successful = 0
        self._growth_tracker = successful

    # ----------------------------------------------------------------- queries and settings
    def get_scale(self):
        if not self._enabled:
            return 1.0
        return float(self._init_scale if self._scale is None else self._scale)

    def get_growth_factor(self):
        return self._growth_factor

    def set_growth_factor(self, new_factor):
        self._growth_factor = new_factor

    def get_backoff_factor(self):
        return self._backoff_factor

    def set_backoff_factor(self, new_factor):
        self._backoff_factor = new_factor

    def get_growth_interval(self):
        return self._growth_interval

    def set_growth_interval(self, new_interval):
        self._growth_interval = new_interval

    def _get_growth_tracker(self):
        if not self._enabled:
            return 0
        return self._init_growth_tracker if self._growth_tracker is None else int(self._growth_tracker)

    def is_enabled(self):
        return self._enabled

    def state_dict(self):
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._get_growth_tracker()}

    def load_state_dict(self, state_dict):
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved from a "
                               "disabled instance of GradScaler.")
        self._init_scale = float(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._init_growth_tracker = int(state_dict["_growth_tracker"])
        if self._scale is not None:
            self._lazy_init()

    # ----------------------------------------------------------------- internals
    def _lazy_init(self):
        self._scale = numpy.float32(self._init_scale)
        self._growth_tracker = self._init_growth_tracker

    def _check_initialized(self, caller):
        if self._scale is None:
            raise AssertionError(f"Attempted {caller} but _scale is None.  This may indicate your script "
                                 "did not use scaler.scale(loss or outputs) earlier in the iteration.")

    def _optimizer_state(self, optimizer):
        return self._per_optimizer.setdefault(id(optimizer), _fresh_optimizer_state())

    @staticmethod
    def _unscale_grads(optimizer, inv_scale):
        """Multiply every gradient by ``inv_scale`` in place (in its own dtype, as PyTorch's
        kernel); whether any was inf or NaN before."""
        found = False
        for group in optimizer.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad.array
                if grad.dtype == numpy.float16:
                    raise ValueError("Attempting to unscale FP16 gradients.")
                xp = get_array_module(grad)
                found = found or not bool(xp.isfinite(grad).all())
                grad *= grad.dtype.type(inv_scale)
        return found


def _new_scale_value(new_scale):
    if isinstance(new_scale, (int, float)):
        return new_scale
    array = getattr(new_scale, "array", None)
    if array is None or array.size != 1 or array.dtype != numpy.float32 or new_scale.requires_grad:
        raise ValueError("new_scale should be a float or a 1-element float32 tensor with requires_grad=False.")
    return float(array.reshape(()))


def _agree_across_ranks(found):
    """1.0 when any rank found an inf/NaN: a MAX all-reduce in a job of several ranks
    (started, or launched as one: distgrad starts its world on first use), the local
    verdict otherwise."""
    from ..world import state  # here, not at load: the world sits above this package's users

    value = numpy.array([1.0 if found else 0.0], dtype=numpy.float32)
    if state.is_initialized() or state.launched_world_size() > 1:
        comm = state.communicator()
        if comm.size > 1:
            comm.allreduce(value, "max")
    return float(value[0])
