"""``torch.backends.cuda``: ``matmul.allow_tf32`` and friends are accepted and kept; distgrad's
matmuls run in the tensors' own precision whatever they say."""
from .. import cuda as _cuda


class _MatmulFlags:
    allow_tf32 = False
    allow_fp16_reduced_precision_reduction = True
    allow_bf16_reduced_precision_reduction = True


matmul = _MatmulFlags()


def is_built():
    return _cuda.is_available()
