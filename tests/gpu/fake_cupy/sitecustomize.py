"""Python imports this at start-up when this folder is on PYTHONPATH (test_gpu_path_on_fake_cupy.py)."""
import os

if os.environ.get("DISTGRAD_FAKE_CUPY_NO_KERNELS"):
    import no_kernels  # noqa: F401
