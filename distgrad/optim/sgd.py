"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""
from ..backend import get_array_module
from ..tensor import Tensor
from ._arrays import add_scaled_, const, effective_grad, fused_kernels, scale_
from .optimizer import Optimizer


def sgd_update(param, grad, state, group, scratch):
    xp = get_array_module(param)
    momentum = group["momentum"]
    fused = fused_kernels(param, grad)
    buf_t = state.get("momentum_buffer")
    if fused is not None and (not momentum or buf_t is not None):  # the first momentum step makes the buffer below
        return fused.sgd_(param, grad, buf_t.array if momentum else None, group)
    d_p = effective_grad(xp, param, grad, group["weight_decay"], group["maximize"], scratch.grad)
    if momentum:
        if buf_t is None:  # the first step starts the buffer at the gradient itself
            buf = d_p.copy()
            state["momentum_buffer"] = Tensor._wrap(buf)
        else:
            buf = buf_t.array
            scale_(xp, buf, momentum)
            dampening = group["dampening"]
            if dampening:
                add_scaled_(xp, buf, d_p, 1 - dampening, scratch.tmp)
            else:
                xp.add(buf, d_p, buf)
        if group["nesterov"]:
            d_p = xp.add(d_p, xp.multiply(buf, const(xp, momentum, buf.dtype), scratch.tmp), scratch.tmp)
        else:
            d_p = buf
    add_scaled_(xp, param, d_p, -group["lr"], scratch.tmp)  # d_p may be scratch.tmp: in place is fine


class SGD(Optimizer):
    _update = staticmethod(sgd_update)

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))
