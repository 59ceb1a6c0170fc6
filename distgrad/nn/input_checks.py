"""Checks layers make of their inputs before computing, so a bad input is reported in the
layer's own terms (its name, the shapes and dtypes) rather than by an op deep inside it."""
from ..amp import autocast_mode
from ..errors import OpTypeError


def check_input_dtype(layer, x, weight):
    """``x`` (an input or a state) must have the dtype of the layer's parameter ``weight``;
    under autocast the ops inside cast their operands themselves, so any float dtype goes."""
    if x.dtype != weight.dtype and not autocast_mode.active:
        raise OpTypeError(layer, f"input dtype {x.dtype} and parameter dtype {weight.dtype} differ; convert "
                                 f"the input with .to({weight.dtype}) or the module with .to(dtype)")
