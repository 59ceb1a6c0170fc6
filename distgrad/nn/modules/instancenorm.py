"""torch.nn.modules.instancenorm's place: the instance norms."""
from ..normalization import InstanceNorm1d, InstanceNorm2d  # noqa: F401
