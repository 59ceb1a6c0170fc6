"""torch.nn.modules.module's place: the Module base class."""
from ..module import Module  # noqa: F401
