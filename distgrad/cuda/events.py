"""``distgrad.cuda.Event``, ``get_device_properties``, ``get_device_capability`` and
``empty_cache``, shaped like torch.cuda's, on CuPy's runtime.

Without a GPU: empty_cache does nothing (as PyTorch's before CUDA starts); the others raise
RuntimeError, as a CUDA build of PyTorch does on a machine without a GPU.
"""
from .. import backend


def _require_gpu(what):
    if not backend.cuda.is_available():
        raise RuntimeError(f"{what} needs a CUDA GPU, and none is available (CuPy missing or no device found)")
    return backend.cupy


def _device_index(device):
    """The GPU index meant by None (the current one), an int, "cuda:1" or a distgrad.device."""
    if device is None:
        return backend.cuda.current_device()
    index = device if isinstance(device, int) else backend.device(device).index
    index = backend.cuda.current_device() if index is None else index
    if not 0 <= index < backend.cuda.device_count():
        raise AssertionError("Invalid device id")
    return index


def empty_cache():
    """Give the GPU memory CuPy's pool holds but no array uses back to the driver (PyTorch's
    caching allocator does the same); nothing without a GPU."""
    if backend.cuda.is_available():
        backend.cupy.get_default_memory_pool().free_all_blocks()


class _CudaDeviceProperties:
    """The fields of torch.cuda.get_device_properties that scripts read."""

    __slots__ = ("name", "total_memory", "major", "minor", "multi_processor_count")

    def __init__(self, runtime_properties):
        name = runtime_properties["name"]
        self.name = name.decode() if isinstance(name, bytes) else str(name)
        self.total_memory = int(runtime_properties["totalGlobalMem"])
        self.major, self.minor = int(runtime_properties["major"]), int(runtime_properties["minor"])
        self.multi_processor_count = int(runtime_properties["multiProcessorCount"])

    def __repr__(self):
        return (f"_CudaDeviceProperties(name='{self.name}', major={self.major}, minor={self.minor}, "
                f"total_memory={self.total_memory // (1024 * 1024)}MB, "
                f"multi_processor_count={self.multi_processor_count})")


def get_device_properties(device=None):
    """Name, total_memory (bytes), major, minor and multi_processor_count of a GPU."""
    cupy = _require_gpu("get_device_properties")
    return _CudaDeviceProperties(cupy.cuda.runtime.getDeviceProperties(_device_index(device)))


def get_device_capability(device=None):
    """The GPU's compute capability as (major, minor): (9, 0) for an H100 or H200."""
    properties = get_device_properties(device)
    return properties.major, properties.minor


class Event:
    """A CUDA event (CuPy's), as torch.cuda.Event: record it on the current stream, wait for
    it, and time the GPU work between two of them with ``elapsed_time``."""

    def __init__(self, enable_timing=False, blocking=False, interprocess=False):
        cupy = _require_gpu("distgrad.cuda.Event")
        self.enable_timing, self.recorded = enable_timing, False
        self._event = cupy.cuda.Event(block=blocking, disable_timing=not enable_timing,
                                      interprocess=interprocess)

    def record(self, stream=None):
        """Record on ``stream`` (a CuPy stream; None: the current one)."""
        self._event.record(stream)
        self.recorded = True

    def synchronize(self):
        """Wait until the work recorded before this event has finished."""
        self._event.synchronize()

    def query(self):
        """Whether that work has finished, without waiting."""
        return bool(self._event.done)

    def wait(self, stream=None):
        """Make ``stream`` (None: the current one) wait for this event."""
        (stream or backend.cupy.cuda.get_current_stream()).wait_event(self._event)

    def elapsed_time(self, end_event):
        """Milliseconds of GPU time between this event and ``end_event``, both recorded and
        finished (synchronize ``end_event`` first)."""
        if not (self.enable_timing and end_event.enable_timing):
            raise RuntimeError("Both events must be created with argument 'enable_timing=True'.")
        if not (self.recorded and end_event.recorded):
            raise RuntimeError("Both events must be recorded before calculating elapsed time.")
        return float(backend.cupy.cuda.get_elapsed_time(self._event, end_event._event))

    def __repr__(self):
        return f"<distgrad.cuda.Event {self._event!r}>"
