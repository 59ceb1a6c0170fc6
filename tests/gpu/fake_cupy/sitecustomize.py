"""Python imports this at start-up when this folder is on PYTHONPATH (test_gpu_path_on_fake_cupy.py,
test_gpu_kernels_on_cpu.py)."""
import os

if os.environ.get("DISTGRAD_FAKE_CUPY_NO_KERNELS"):
    import no_kernels  # noqa: F401
elif os.environ.get("DISTGRAD_FAKE_CUPY_CPU_KERNELS"):
    import cpu_kernels  # noqa: F401
