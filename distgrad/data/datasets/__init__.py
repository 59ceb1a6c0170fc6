"""Ready-made datasets: MNIST and Fashion-MNIST (torchvision's interface, no PIL)."""
from .mnist import MNIST, FashionMNIST

__all__ = ["MNIST", "FashionMNIST"]
