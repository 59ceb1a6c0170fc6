"""scikit-learn's handwritten digits (UCI, 1,797 images of 8x8), shaped like MNIST.

A real data set that ships inside a PyPI package, for machines where MNIST can be neither
found nor downloaded: each image is scaled to 0-255, enlarged 3x to 24x24 and padded to
28x28, so MNIST models and transforms apply unchanged.
"""
import numpy

from ...tensor import Tensor
from .mnist import MNIST


class Digits(MNIST):
    """The UCI digits as an MNIST look-alike; ``train`` picks a fixed 80/20 split."""

    train_fraction = 0.8

    def __init__(self, root=None, train=True, transform=None, target_transform=None, download=False):
        try:
            from sklearn.datasets import load_digits  # optional: scikit-learn ships the digits
        except ImportError as error:
            raise ImportError("Digits needs scikit-learn (pip install scikit-learn)") from error
        bunch = load_digits()
        images = numpy.rint(bunch.images * (255 / 16)).astype(numpy.uint8)
        images = numpy.kron(images, numpy.ones((1, 3, 3), numpy.uint8))
        images = numpy.pad(images, ((0, 0), (2, 2), (2, 2)))
        order = numpy.random.default_rng(0).permutation(len(images))  # fixed, class-mixed split
        cut = int(len(order) * self.train_fraction)
        chosen = order[:cut] if train else order[cut:]
        self.root, self.train, self.folder = root, bool(train), None
        self.transform, self.target_transform = transform, target_transform
        self.data = Tensor._wrap(images[chosen])
        self.targets = Tensor._wrap(bunch.target[chosen].astype(numpy.int64))
