"""The offline fallback data set: scikit-learn's digits, shaped and batched like MNIST."""
import numpy as np
import pytest

pytest.importorskip("sklearn")

from distgrad.data import DataLoader  # noqa: E402
from distgrad.data.datasets import Digits  # noqa: E402
from distgrad.data.transforms import Normalize  # noqa: E402


def test_digits_look_like_mnist_and_split_without_overlap():
    train, test = Digits(train=True), Digits(train=False)
    assert len(train) + len(test) == 1797
    assert tuple(train.data.shape[1:]) == (28, 28) and train.data.dtype == np.uint8
    assert train.data.numpy().max() == 255 and train.data.numpy()[:, :2].max() == 0  # padded border
    assert set(np.unique(train.targets.numpy())) == set(range(10))
    train_rows = {row.tobytes() for row in train.data.numpy()}
    shared = sum(row.tobytes() in train_rows for row in test.data.numpy())
    assert shared < len(test) // 10  # a few digits are identical images; the split itself is disjoint


def test_digits_batches_are_normalized_float32_images():
    loader = DataLoader(Digits(transform=Normalize(0.1307, 0.3081)), batch_size=32)
    images, labels = next(iter(loader))
    assert tuple(images.shape) == (32, 1, 28, 28) and images.dtype == np.float32
    assert labels.dtype == np.int64
    assert abs(float(images.numpy().min()) - (0 - 0.1307) / 0.3081) < 1e-5
