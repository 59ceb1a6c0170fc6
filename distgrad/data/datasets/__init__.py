"""Ready-made datasets: MNIST and Fashion-MNIST (torchvision's interface, no PIL)."""
from .digits import Digits
from .mnist import MNIST, FashionMNIST

__all__ = ["Digits", "MNIST", "FashionMNIST"]
from .text import CharBlocks, TinyShakespeare

__all__ += ["CharBlocks", "TinyShakespeare"]
