"""L-BFGS (PyTorch's torch.optim.LBFGS): a quasi-Newton direction from the last
``history_size`` curvature pairs (the two-loop recursion), a fixed step ``lr`` or a step from
a strong-Wolfe line search; ``step(closure)`` runs up to ``max_iter`` iterations.

All parameters are treated as one flat vector. The line search is in _wolfe.py.
"""
import math

from ..backend import get_array_module
from ..function import enable_grad
from ..tensor import Tensor
from ._wolfe import strong_wolfe
from .optimizer import Optimizer

# Curvature pairs with s.y at or below this are skipped: they would break positive definiteness.
_MIN_CURVATURE = 1e-10


class LBFGS(Optimizer):
    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change, history_size=history_size,
                                      line_search_fn=line_search_fn))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    # ----------------------------------------------------------------- the flat vector
    def _xp(self):
        return get_array_module(self._params[0].array)

    def _flat_grad(self):
        xp = self._xp()
        return xp.concatenate([p.grad.array.reshape(-1) if p.grad is not None else
                               xp.zeros(p.array.size, p.array.dtype) for p in self._params])

    def _move(self, step, direction):
        """params += step * direction (direction is flat)."""
        offset = 0
        for p in self._params:
            n = p.array.size
            p.array += (step * direction[offset:offset + n]).reshape(p.array.shape).astype(p.array.dtype, copy=False)
            p._bump_version()
            offset += n

    def _snapshot(self):
        return [p.array.copy() for p in self._params]

    def _restore(self, arrays):
        for p, saved in zip(self._params, arrays):
            p.array[...] = saved
            p._bump_version()

    def _evaluate(self, closure):
        with enable_grad():
            loss = _loss_value(closure())
        return loss, self._flat_grad()

    def _trial(self, closure, start, step, direction):
        """Loss and flat gradient at start + step * direction; the parameters go back to start."""
        self._move(step, direction)
        loss, grad = self._evaluate(closure)
        self._restore(start)
        return loss, grad

    # ----------------------------------------------------------------- one call
    def step(self, closure):
        if closure is None:
            raise RuntimeError("LBFGS.step needs a closure that re-evaluates the model and returns the loss")
        group = self.param_groups[0]
        lr, history_size = group["lr"], group["history_size"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with enable_grad():
            first_loss = closure()
        loss = _loss_value(first_loss)
        evals = 1
        state["func_evals"] += 1
        grad = self._flat_grad()
        xp = self._xp()
        if float(xp.abs(grad).max()) <= tol_grad:
            return first_loss

        memory = _Memory.from_state(state, xp)
        direction, step = memory.direction, memory.step
        iteration = 0
        while iteration < group["max_iter"]:
            iteration += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                memory.reset()
                direction = -grad
            else:
                memory.remember(grad - memory.prev_grad, direction * step, history_size)
                direction = memory.apply_inverse_hessian(-grad)
            memory.prev_grad, memory.prev_loss = grad.copy(), loss
            # The first step ever is scaled by the gradient's size: no curvature is known yet.
            step = min(1.0, 1.0 / xp.abs(grad).sum()) * lr if state["n_iter"] == 1 else lr
            slope = float(xp.dot(grad, direction))
            if slope > -tol_change:  # not a descent direction any more
                break

            if group["line_search_fn"] == "strong_wolfe":
                start = self._snapshot()
                loss, grad, step, used = strong_wolfe(
                    lambda t: self._trial(closure, start, t, direction), xp, step, direction, loss, grad, slope,
                    tolerance_change=tol_change, max_evals=group["max_eval"] - evals)
                self._move(step, direction)
            else:
                self._move(step, direction)
                used = 0
                if iteration != group["max_iter"]:  # the last iteration's loss would go unused
                    loss, grad = self._evaluate(closure)
                    used = 1
            evals += used
            state["func_evals"] += used

            if iteration == group["max_iter"] or evals >= group["max_eval"]:
                break
            if float(xp.abs(grad).max()) <= tol_grad:
                break
            if float(xp.abs(direction * step).max()) <= tol_change:
                break
            if abs(loss - memory.prev_loss) < tol_change:
                break

        memory.direction, memory.step = direction, step
        memory.to_state(state)
        return first_loss

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        xp = self._xp()
        for state in self.state.values():  # histories load as lists of arrays or Tensors
            for name in ("old_dirs", "old_stps"):
                if name in state:
                    state[name] = [_as_tensor(v, xp) for v in state[name]]


def _as_tensor(value, xp):
    return value if isinstance(value, Tensor) else Tensor._wrap(xp.asarray(value))


class _Memory:
    """The curvature pairs (y = change of gradient, s = change of parameters) and what the next
    step() needs to continue where the last one stopped; kept in the optimizer state as Tensors
    (the names are torch's, so the state_dict reads alike)."""

    def __init__(self, xp):
        self.xp = xp
        self.reset()
        self.direction = self.step = self.prev_grad = self.prev_loss = None

    def reset(self):
        self.ys, self.ss, self.rho = [], [], []
        self.h_diag = 1.0

    def remember(self, y, s, history_size):
        ys = self.xp.dot(y, s)  # scalars stay in the parameters' dtype, as PyTorch's 0-d tensors
        if ys <= _MIN_CURVATURE:
            return
        if len(self.ys) == history_size:
            del self.ys[0], self.ss[0], self.rho[0]
        self.ys.append(y)
        self.ss.append(s)
        self.rho.append(1.0 / ys)
        self.h_diag = ys / self.xp.dot(y, y)  # the scaling gamma of N&W (7.20)

    def apply_inverse_hessian(self, q):
        """H q by the two-loop recursion (Nocedal & Wright, Algorithm 7.4); q is changed."""
        xp = self.xp
        alphas = []
        for s, y, rho in zip(reversed(self.ss), reversed(self.ys), reversed(self.rho)):
            alpha = xp.dot(s, q) * rho
            q -= alpha * y
            alphas.append(alpha)
        r = q * self.h_diag
        for s, y, rho, alpha in zip(self.ss, self.ys, self.rho, reversed(alphas)):
            beta = xp.dot(y, r) * rho
            r += (alpha - beta) * s
        return r

    @classmethod
    def from_state(cls, state, xp):
        memory = cls(xp)
        if "old_dirs" in state:
            memory.ys = [t.array for t in state["old_dirs"]]
            memory.ss = [t.array for t in state["old_stps"]]
            memory.rho = list(state["ro"])
            memory.h_diag = state["H_diag"]
            memory.direction = state["d"].array
            memory.step = state["t"]
            memory.prev_grad = state["prev_flat_grad"].array
            memory.prev_loss = state["prev_loss"]
        return memory

    def to_state(self, state):
        state.update(d=Tensor._wrap(self.direction), t=self.step,
                     old_dirs=[Tensor._wrap(y) for y in self.ys], old_stps=[Tensor._wrap(s) for s in self.ss],
                     ro=list(self.rho), H_diag=self.h_diag, prev_flat_grad=Tensor._wrap(self.prev_grad),
                     prev_loss=self.prev_loss)


def _loss_value(loss):
    """The closure's loss as a float; what else it may return is said here, not by float()."""
    if loss is None or not hasattr(loss, "__float__"):
        raise TypeError(f"LBFGS.step: the closure must return the loss (a one-element tensor or a number), "
                        f"got {type(loss).__name__}")
    shape = getattr(loss, "shape", ())
    if math.prod(shape) != 1:
        raise ValueError(f"LBFGS.step: the closure must return the loss as a one-element tensor, got shape "
                         f"{tuple(shape)}")
    return float(loss)
