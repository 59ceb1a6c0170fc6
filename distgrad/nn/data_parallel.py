"""``nn.DataParallel``: PyTorch's single-process wrapper that splits a batch over the GPUs of
one machine. distgrad runs a model on one device per process, so here it runs the wrapped
module on the batch as it is, as PyTorch's does with one or no GPU: a script written for it
keeps working (``model.module``, state_dict keys with ``module.``), on one device. Several
GPUs are used by one rank each: DistributedDataParallel under ``distgrad-run``."""
import warnings

from ..backend import cuda
from .module import Module


class DataParallel(Module):
    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        self.module, self.dim = module, dim
        self.device_ids = list(device_ids) if device_ids is not None else list(range(cuda.device_count()))
        self.output_device = output_device if output_device is not None else \
            (self.device_ids[0] if self.device_ids else None)
        if len(self.device_ids) > 1:
            warnings.warn(f"DataParallel: {len(self.device_ids)} GPUs were offered, but distgrad runs the module "
                          "on one device per process; to train on all of them run one rank per GPU: "
                          "DistributedDataParallel under distgrad-run -n N", stacklevel=2)

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)
