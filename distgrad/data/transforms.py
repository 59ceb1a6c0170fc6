"""Image transforms (ToTensor, Normalize, Compose, Lambda), vectorized over whole batches.

Each transform works on one sample (``t(image)``) and, where it can, on a stack of samples
at once (``t.batch(images)``, first dimension = batch). Datasets that hold whole arrays
(MNIST) use ``batch`` in their ``get_batch``, so a DataLoader applies the transform to a
whole batch in a few array operations instead of a Python loop over samples.
"""
import numpy

from ..backend import get_array_module
from ..tensor import Tensor
from ._util import array_of


class Transform:
    """Subclasses implement ``apply(array, batched) -> array`` on raw NumPy/CuPy arrays."""

    supports_batch = True

    def __call__(self, image):
        return Tensor._wrap(self.apply(_as_array(image), batched=False))

    def batch(self, images):
        return Tensor._wrap(self.apply(_as_array(images), batched=True))

    def apply(self, array, batched):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class ToTensor(Transform):
    """uint8 images (H, W) or (H, W, C) -> float32 (C, H, W) scaled to [0, 1].

    Float images are only moved to channels-first, not rescaled (as torchvision does for
    arrays that are not uint8). Batched: (B, H, W) or (B, H, W, C) -> (B, C, H, W).
    """

    def apply(self, array, batched):
        array = _channels_first(array, batched)
        if array.dtype == numpy.uint8:
            out = array.astype(numpy.float32)
            out *= numpy.float32(1 / 255)
            return out
        return array.astype(numpy.float32) if array.dtype.kind != "f" else array


class Normalize(Transform):
    """(x - mean) / std per channel on float (C, H, W) images, or (B, C, H, W) batched.

    Given images that are not floating point yet (raw uint8 pixels), it first converts them
    as ToTensor does, so ``MNIST(transform=Normalize(0.1307, 0.3081))`` yields float32
    (1, 28, 28) images scaled to [0, 1] and then normalized.
    """

    def __init__(self, mean, std, inplace=False):
        self.mean = tuple(numpy.atleast_1d(numpy.asarray(mean, dtype=numpy.float64)).tolist())
        self.std = tuple(numpy.atleast_1d(numpy.asarray(std, dtype=numpy.float64)).tolist())
        if any(s == 0 for s in self.std):
            raise ValueError(f"Normalize: std evaluated to zero in {self.std}, leading to division by zero")
        self.inplace = inplace

    def apply(self, array, batched):
        pixel_scale, out = 1.0, None
        if array.dtype.kind != "f":  # raw pixels: convert as ToTensor does, in the same passes
            array = _channels_first(array, batched)
            pixel_scale = 1 / 255 if array.dtype == numpy.uint8 else 1.0
            out = array.astype(numpy.float32)
        elif self.inplace:
            out = array
        channels = array.shape[-3] if array.ndim >= 3 else None
        if channels is None or len(self.mean) not in (1, channels) or len(self.std) not in (1, channels):
            raise ValueError(f"Normalize: mean {self.mean} and std {self.std} don't fit images of shape "
                             f"{tuple(array.shape)} (expected (C, H, W){' batched' if batched else ''})")
        # (x * pixel_scale - mean) / std as one multiply and one add
        std = numpy.asarray(self.std)
        xp, dtype = get_array_module(array), (out if out is not None else array).dtype
        scale = xp.asarray(pixel_scale / std, dtype=dtype).reshape(-1, 1, 1)
        shift = xp.asarray(-numpy.asarray(self.mean) / std, dtype=dtype).reshape(-1, 1, 1)
        if out is None:
            return array * scale + shift
        out *= scale
        out += shift
        return out

    def __repr__(self):
        return f"Normalize(mean={self.mean}, std={self.std})"


def _channels_first(array, batched):
    """(H, W) -> (1, H, W) and (H, W, C) -> (C, H, W), with a leading batch dimension if batched."""
    spatial = array.ndim - int(batched)
    if spatial == 2:
        return array[..., None, :, :]
    if spatial == 3:
        return get_array_module(array).moveaxis(array, -1, -3)
    what = "a batch of images (B, H, W[, C])" if batched else "an image (H, W[, C])"
    raise ValueError(f"ToTensor: expected {what}, got shape {tuple(array.shape)}")


class Compose(Transform):
    """Apply transforms one after another; batched when every one of them can be."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    @property
    def supports_batch(self):
        return all(getattr(t, "supports_batch", False) for t in self.transforms)

    def __call__(self, image):
        for t in self.transforms:
            image = t(image)
        return image

    def batch(self, images):
        for t in self.transforms:
            images = t.batch(images)
        return images

    def __repr__(self):
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"


class Lambda(Transform):
    """A user function as a transform. With ``batched=True`` the function promises to work
    on a whole batch as well (first dimension = batch), which keeps the fast path."""

    def __init__(self, fn, batched=False):
        if not callable(fn):
            raise TypeError(f"Lambda: argument should be callable, got {type(fn).__name__}")
        self.fn = fn
        self.supports_batch = batched

    def __call__(self, image):
        return self.fn(image)

    def batch(self, images):
        if not self.supports_batch:
            raise TypeError("Lambda(fn) was not declared batched=True; apply it per sample")
        return self.fn(images)


def is_batchable(transform):
    """True when ``transform`` (None included) can be applied to a whole batch at once."""
    return transform is None or (getattr(transform, "supports_batch", False) and hasattr(transform, "batch"))


def _as_array(x):
    x = array_of(x)
    return x if hasattr(x, "dtype") and hasattr(x, "ndim") else numpy.asarray(x)
