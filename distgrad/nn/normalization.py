"""BatchNorm1d / BatchNorm2d (running statistics as buffers), SyncBatchNorm and LayerNorm."""
import numbers

from .. import creation, dtypes
from ..world.sync_batchnorm import synced_statistics
from . import functional as F, init
from .linear import _empty_parameter
from .module import Module


class _BatchNorm(Module):
    _expected_dims = ()  # the input ranks each subclass accepts

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = _empty_parameter((num_features,), device, dtype)
            self.bias = _empty_parameter((num_features,), device, dtype)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", creation.zeros(num_features, device=device, dtype=dtype))
            self.register_buffer("running_var", creation.ones(num_features, device=device, dtype=dtype))
            self.register_buffer("num_batches_tracked", creation.zeros((), device=device, dtype=dtypes.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean.array.fill(0)
            self.running_var.array.fill(1)
            self.num_batches_tracked.array.fill(0)

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def _check_input_dim(self, input):
        if input.ndim not in self._expected_dims:
            wanted = " or ".join(f"{d}D" for d in self._expected_dims)
            raise ValueError(f"{type(self).__name__}: expected {wanted} input (got {input.ndim}D input "
                             f"of shape {tuple(input.shape)})")
        if input.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}): input of shape {tuple(input.shape)} "
                             f"has {input.shape[1]} channels in dimension 1, expected {self.num_features}")

    def forward(self, input):
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            counter = self.num_batches_tracked.array
            counter += 1  # in place: the 0-d buffer keeps its identity
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(counter)
        # Batch statistics in training, and in eval when there are no running statistics.
        use_batch_stats = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        sync = self._synced_statistics() if self.training else None  # eval never communicates
        return F.batch_norm(input, self.running_mean if track else None, self.running_var if track else None,
                            self.weight, self.bias, use_batch_stats, factor, self.eps, sync=sync)

    def _synced_statistics(self):
        return None  # statistics of this process's batch only

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Over (N, C) or (N, C, L) inputs: statistics per channel C."""
    _expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Over (N, C, H, W) inputs: statistics per channel C."""
    _expected_dims = (4,)


class SyncBatchNorm(_BatchNorm):
    """BatchNorm whose training statistics run over the batches of all ranks together (for
    small per-rank batches), or of the ranks of ``process_group`` (from ``new_group``). In a
    world of one it is BatchNorm."""
    _expected_dims = (2, 3, 4, 5)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 process_group=None, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        self.process_group = process_group

    def _synced_statistics(self):
        return synced_statistics(self.process_group)

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """``module`` with every BatchNorm*d replaced by a SyncBatchNorm holding the same
        parameters and running statistics (the module itself when it is one)."""
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            converted = cls(module.num_features, module.eps, module.momentum, module.affine,
                            module.track_running_stats, process_group)
            for name in ("weight", "bias"):
                if getattr(module, name) is not None:
                    setattr(converted, name, getattr(module, name))
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                converted.register_buffer(name, getattr(module, name))
            converted.train(module.training)
            return converted
        for name, child in list(module._modules.items()):
            if child is not None:
                module._modules[name] = cls.convert_sync_batchnorm(child, process_group)
        return module


def _trailing_norm_init(module, normalized_shape, eps, elementwise_affine, parameters, device, dtype):
    """LayerNorm's and RMSNorm's set-up: the trailing shape, eps, and ``parameters`` ({name:
    whether it exists}) of that shape, registered as None where it does not."""
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (normalized_shape,)
    module.normalized_shape = tuple(int(s) for s in normalized_shape)
    module.eps, module.elementwise_affine = eps, elementwise_affine
    for name, exists in parameters.items():
        if exists:
            setattr(module, name, _empty_parameter(module.normalized_shape, device, dtype))
        else:
            module.register_parameter(name, None)
    module.reset_parameters()


class LayerNorm(Module):
    """Normalises over the trailing ``normalized_shape`` dimensions of each sample."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        _trailing_norm_init(self, normalized_shape, eps, elementwise_affine,
                            {"weight": elementwise_affine, "bias": elementwise_affine and bias}, device, dtype)

    def reset_parameters(self):
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class RMSNorm(Module):
    """Divides each sample by the root mean square of its trailing ``normalized_shape`` values
    (F.rms_norm), then scales by a learned weight."""

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, device=None, dtype=None):
        super().__init__()
        _trailing_norm_init(self, normalized_shape, eps, elementwise_affine, {"weight": elementwise_affine}, device,
                            dtype)

    def reset_parameters(self):
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, input):
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """Normalizes each of ``num_groups`` channel groups of every sample, then scales and shifts
    each channel."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        if num_groups < 1 or num_channels % num_groups:
            raise ValueError("num_channels must be divisible by num_groups")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        for name, wanted in (("weight", affine), ("bias", affine and bias)):
            self.register_parameter(name, _empty_parameter((num_channels,), device, dtype) if wanted else None)
        self.reset_parameters()

    reset_parameters = LayerNorm.reset_parameters  # weight 1, bias 0

    def forward(self, input):
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class _InstanceNorm(_BatchNorm):
    """Statistics per sample and channel; no affine parameters and no running statistics by
    default, as PyTorch's."""
    _spatial = 2

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False,
                 device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def forward(self, input):
        name = type(self).__name__
        if input.ndim not in (self._spatial + 1, self._spatial + 2):
            raise ValueError(f"{name}: expected {self._spatial + 1}D or {self._spatial + 2}D input (got "
                             f"{input.ndim}D input of shape {tuple(input.shape)})")
        channel_dim = input.ndim - self._spatial - 1
        if input.shape[channel_dim] != self.num_features and self.affine:
            raise ValueError(f"expected input's size at dim={channel_dim} to match num_features "
                             f"({self.num_features}), but got: {input.shape[channel_dim]}.")
        unbatched = input.ndim == self._spatial + 1
        x = input.unsqueeze(0) if unbatched else input
        out = F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                              self.training or not self.track_running_stats,
                              0.0 if self.momentum is None else self.momentum, self.eps)
        return out.squeeze(0) if unbatched else out

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.affine}, track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    _spatial = 1


class InstanceNorm2d(_InstanceNorm):
    _spatial = 2
