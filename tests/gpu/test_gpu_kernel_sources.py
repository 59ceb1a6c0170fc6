"""Every fused kernel compiles with NVRTC for Hopper (compute_90), in float and double, and the
update kernels contain no fused multiply-add (their results must round as NumPy's steps do).
Needs CuPy's NVRTC, not a GPU: the GPU tests run the kernels themselves."""
import pytest

from kernel_sources import all_sources


def _nvrtc():
    try:
        from cupy_backends.cuda.libs import nvrtc
        nvrtc.getVersion()
        return nvrtc
    except Exception:  # no CuPy, or CuPy without its NVRTC library
        return None


NVRTC = _nvrtc()
pytestmark = pytest.mark.skipif(NVRTC is None, reason="CuPy with NVRTC is not installed here")


def compile_ptx(label, source, options):
    program = NVRTC.createProgram(source, label + ".cu", [], [])
    try:
        NVRTC.compileProgram(program, ["-arch=compute_90", *options])
    except Exception as exc:
        raise AssertionError(f"{label} does not compile: {exc}\n{NVRTC.getProgramLog(program)}\n{source}")
    return NVRTC.getPTX(program).decode() if isinstance(NVRTC.getPTX(program), bytes) else NVRTC.getPTX(program)


@pytest.mark.parametrize("label,source", all_sources(), ids=[label for label, _ in all_sources()])
def test_kernel_compiles(label, source):
    from distgrad.cuda.kernels import EXACT_ROUNDING
    ptx = compile_ptx(label, source, EXACT_ROUNDING)
    assert ".entry" in ptx
    if label.startswith(("sgd", "adam")):
        assert "fma." not in ptx, f"{label}: a fused multiply-add would round differently from the CPU"
