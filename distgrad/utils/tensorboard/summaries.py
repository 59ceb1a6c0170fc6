"""Summary protos for each kind of value: scalars, histograms, PNG images and text, laid out
as PyTorch writes them so TensorBoard's plugins (and tools reading PyTorch's runs) see them alike."""
import struct
import zlib

import numpy as np
from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary, SummaryMetadata
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto


def to_numpy(value):
    """A distgrad Tensor (on any device), a NumPy array or a Python number, as a NumPy array."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def scalar(tag, value):
    return Summary(value=[Summary.Value(tag=tag, simple_value=float(to_numpy(value)))])


def _tensorflow_edges():
    """TensorBoard's default histogram edges: 1e-12 growing by 10% while below 1e20, mirrored."""
    positive, edge = [], 1e-12
    while edge < 1e20:
        positive.append(edge)
        edge *= 1.1
    return np.array([-x for x in reversed(positive)] + [0.0] + positive)


def histogram(tag, values, bins="tensorflow", max_bins=None):
    values = to_numpy(values).astype(np.float64).ravel()
    if values.size == 0:
        raise ValueError(f"add_histogram({tag!r}): the values are empty")
    edges = _tensorflow_edges() if bins == "tensorflow" else bins
    counts, limits = np.histogram(values, bins=edges)
    if max_bins is not None and len(counts) > max_bins:
        merge = len(counts) // max_bins  # neighbours merged, as PyTorch does (it may leave a few more)
        pad = (-len(counts)) % merge
        counts = np.pad(counts, (0, pad)).reshape(-1, merge).sum(axis=1)
        limits = np.concatenate([limits[:-1:merge], limits[-1:]])
    # Empty buckets trimmed at both ends; bucket_limit holds right edges only, so an empty bucket
    # ending where the first full one starts comes first (PyTorch's layout).
    filled = np.nonzero(counts)[0]
    first, last = filled[0], filled[-1] + 1
    proto = HistogramProto(min=values.min(), max=values.max(), num=values.size, sum=values.sum(),
                           sum_squares=float(np.dot(values, values)),
                           bucket_limit=limits[first:last + 1].tolist(), bucket=[0] + counts[first:last].tolist())
    return Summary(value=[Summary.Value(tag=tag, histo=proto)])


_LAYOUTS = {"CHW": (1, 2, 0), "HWC": (0, 1, 2), "HW": None}


def image(tag, img, dataformats="CHW"):
    """An image of 1, 3 or 4 channels: floats in [0, 1] are scaled to 0..255, uint8 kept."""
    array = to_numpy(img)
    if dataformats not in _LAYOUTS:
        raise ValueError(f"add_image({tag!r}): dataformats must be one of {sorted(_LAYOUTS)}, got {dataformats!r}")
    if array.ndim != len(dataformats):
        raise ValueError(f"add_image({tag!r}): dataformats={dataformats!r} needs a {len(dataformats)}-d "
                         f"array, got shape {array.shape}")
    array = array[:, :, None] if dataformats == "HW" else array.transpose(_LAYOUTS[dataformats])
    if array.shape[2] not in (1, 3, 4):
        raise ValueError(f"add_image({tag!r}): expected 1, 3 or 4 channels, got {array.shape[2]}")
    if array.dtype != np.uint8:
        array = (np.clip(array, 0, 1) * 255 + 0.5).astype(np.uint8)
    height, width, channels = array.shape
    encoded = Summary.Image(height=height, width=width, colorspace=channels, encoded_image_string=png(array))
    return Summary(value=[Summary.Value(tag=tag, image=encoded)])


def png(pixels):
    """PNG bytes of an (H, W, C) uint8 array, C in 1 (grey), 3 (RGB) or 4 (RGBA)."""
    height, width, channels = pixels.shape
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    rows = b"".join(b"\x00" + pixels[i].tobytes() for i in range(height))  # filter 0 on each row

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def text(tag, string):
    """Text as the text plugin reads it: a string tensor under ``tag/text_summary``."""
    metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="text", content=b""))
    tensor = TensorProto(dtype="DT_STRING", string_val=[string.encode("utf-8")],
                         tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=1)]))
    return Summary(value=[Summary.Value(tag=tag + "/text_summary", metadata=metadata, tensor=tensor)])
