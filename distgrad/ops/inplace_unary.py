"""In-place forms of the elementwise functions (exp_, sqrt_, sigmoid_, ...): each is the
out-of-place op under autograd (inplace._inplace), the array function writing into the
tensor's own memory otherwise."""
from ..backend import get_array_module
from . import activation, elementwise as ew
from .addc import reciprocal
from .inplace import _inplace


def _into(name):
    """The array kernel ``xp.<name>(a, out=a)``."""
    def kernel(a):
        getattr(get_array_module(a), name)(a, out=a)
    return kernel


def _sigmoid(a):
    a[...] = 1 / (1 + get_array_module(a).exp(-a))


def _reciprocal(a):
    a[...] = 1 / a


exp_ = _inplace(ew.exp, _into("exp"), reads_self=True)
log_ = _inplace(ew.log, _into("log"), reads_self=True)
sqrt_ = _inplace(ew.sqrt, _into("sqrt"), reads_self=True)
abs_ = _inplace(ew.abs, _into("abs"), reads_self=True)
neg_ = _inplace(ew.neg, _into("negative"))
tanh_ = _inplace(activation.tanh, _into("tanh"), reads_self=True)
sigmoid_ = _inplace(activation.sigmoid, _sigmoid, reads_self=True)
reciprocal_ = _inplace(reciprocal, _reciprocal, reads_self=True)
for _name in ("exp_", "log_", "sqrt_", "abs_", "neg_", "tanh_", "sigmoid_", "reciprocal_"):
    globals()[_name].__name__ = _name
