"""torch.nn.utils.spectral_norm (the older form): ``weight = weight_orig / sigma``, sigma the
largest singular value estimated by power iteration on the buffers ``weight_u``, ``weight_v``
(updated in training mode only), recomputed by a forward pre-hook.

Also the pieces the parametrization form (``parametrizations.spectral_norm``) shares with it.
"""
from ... import autograd
from ...ops.linalg import dot, matmul
from ..conv import _ConvTransposeNd
from ..functional import normalize
from ..parameter import Parameter
from .weight_norm import find_pre_hook, remove_pre_hook_form

__all__ = ["SpectralNorm", "remove_spectral_norm", "spectral_norm"]


def default_dim(module, dim):
    """PyTorch's default: dim 1 for transposed convolutions (their output channels), else 0."""
    if dim is not None:
        return dim
    return 1 if isinstance(module, _ConvTransposeNd) else 0


def check_dim(function, weight, name, dim):
    ndim = weight.ndim
    if not -ndim <= dim < ndim:
        raise IndexError(f"{function}: dim={dim} is out of range for '{name}', which has {ndim} dimensions "
                         f"(expected a dim in [{-ndim}, {ndim - 1}])")
    return dim % ndim


def check_power_iterations(n_power_iterations):
    if n_power_iterations <= 0:
        raise ValueError(f"Expected n_power_iterations to be positive, but got n_power_iterations={n_power_iterations}")


def reshape_weight_to_matrix(weight, dim):
    """The weight as a matrix whose rows run along ``dim``."""
    if dim != 0:
        weight = weight.permute(dim, *(d for d in range(weight.ndim) if d != dim))
    return weight.reshape(weight.shape[0], -1)


def normalize_into(buffer, vector, eps):
    """``F.normalize(vector, dim=0, eps=eps, out=buffer)``: the buffer keeps its identity."""
    with autograd.no_grad():
        buffer.array[...] = normalize(vector, dim=0, eps=eps).array
    buffer._bump_version()


def random_unit_vector(like, size, eps):
    return normalize(like.new_empty(size).normal_(0, 1), dim=0, eps=eps)


def sigma_of(weight_mat, u, v):
    """The singular value estimate u . (W v); differentiable in W only."""
    return dot(u, matmul(weight_mat, v))


class SpectralNorm:
    """The forward pre-hook: sets ``module.<name>`` to ``<name>_orig / sigma``."""

    def __init__(self, name="weight", n_power_iterations=1, dim=0, eps=1e-12):
        check_power_iterations(n_power_iterations)
        self.name = name
        self.dim = dim
        self.n_power_iterations = n_power_iterations
        self.eps = eps

    def compute_weight(self, module, do_power_iteration):
        weight = getattr(module, self.name + "_orig")
        u, v = getattr(module, self.name + "_u"), getattr(module, self.name + "_v")
        weight_mat = reshape_weight_to_matrix(weight, self.dim)
        if do_power_iteration:
            with autograd.no_grad():
                for _ in range(self.n_power_iterations):
                    normalize_into(v, matmul(weight_mat.t(), u), self.eps)
                    normalize_into(u, matmul(weight_mat, v), self.eps)
            u, v = u.clone(), v.clone()  # the graph keeps these, not the buffers the next step rewrites
        return weight / sigma_of(weight_mat, u, v)

    def remove(self, module):
        with autograd.no_grad():
            weight = self.compute_weight(module, do_power_iteration=False)
        for suffix in ("", "_u", "_v", "_orig"):
            delattr(module, self.name + suffix)
        module.register_parameter(self.name, Parameter(weight.detach()))

    def __call__(self, module, inputs):
        setattr(module, self.name, self.compute_weight(module, do_power_iteration=module.training))

    @staticmethod
    def apply(module, name, n_power_iterations, dim, eps):
        if find_pre_hook(module, SpectralNorm, name) is not None:
            raise RuntimeError(f"Cannot register two spectral_norm hooks on the same parameter {name}")
        if name not in module._parameters:
            raise KeyError(f"spectral_norm: {type(module).__name__} has no parameter named '{name}'")
        weight = module._parameters[name]
        if weight is None:
            raise ValueError(f"`SpectralNorm` cannot be applied as parameter `{name}` is None")
        fn = SpectralNorm(name, n_power_iterations, check_dim("spectral_norm", weight, name, dim), eps)
        with autograd.no_grad():
            height, width = reshape_weight_to_matrix(weight, fn.dim).shape
            u, v = random_unit_vector(weight, height, eps), random_unit_vector(weight, width, eps)
        delattr(module, name)
        module.register_parameter(name + "_orig", weight)
        setattr(module, name, weight.detach())
        module.register_buffer(name + "_u", u)
        module.register_buffer(name + "_v", v)
        module.register_forward_pre_hook(fn)
        return fn


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Divide ``module.<name>`` by its spectral norm before each forward (power iteration with
    ``n_power_iterations`` steps a training-mode call; ``dim`` defaults as PyTorch's)."""
    SpectralNorm.apply(module, name, n_power_iterations, default_dim(module, dim), eps)
    return module


def remove_spectral_norm(module, name="weight"):
    """Fold ``spectral_norm`` back into a plain parameter holding the current weight."""
    return remove_pre_hook_form(module, SpectralNorm, name, "spectral_norm")
