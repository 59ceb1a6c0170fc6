"""The engine's micro-optimisations, each timed against the plain way of writing it, so that
every one kept in distgrad/ has a figure behind it (benchmarks/NOTES.md, "Engine
micro-optimisations").

    python -m benchmarks.micro

Best of 7 timeit repeats, in microseconds per call, one thread.
"""
import timeit

import numpy

from benchmarks.lib.common import single_thread
from distgrad.tensor import Tensor


def best_us(statement, number=20_000, **names):
    times = timeit.repeat(statement, globals=names, number=number, repeat=7)
    return 1e6 * min(times) / number


def wrap_cases():
    """Tensor._wrap sets the slots itself instead of calling _init (it runs once per op)."""
    array = numpy.zeros(4, dtype=numpy.float32)

    def wrap_through_init(a):
        if isinstance(a, numpy.generic):  # as _wrap does
            a = numpy.asarray(a)
        t = object.__new__(Tensor)
        t._init(a, False, None)
        return t
    return {"Tensor._wrap (inlined)": best_us("wrap(a)", wrap=Tensor._wrap, a=array),
            "Tensor._wrap through _init": best_us("wrap(a)", wrap=wrap_through_init, a=array)}


def relu_cases():
    """relu as maximum against an array of zeros, written into that array, or against 0."""
    x = numpy.random.default_rng(0).standard_normal((32, 128)).astype(numpy.float32)
    return {"relu: maximum(x, zeros, out=zeros)":
            best_us("z = np.zeros(x.shape, x.dtype); np.maximum(x, z, out=z)", np=numpy, x=x),
            "relu: maximum(x, 0)": best_us("np.maximum(x, 0)", np=numpy, x=x)}


def ufunc_scalar_cases():
    """An optimizer's in-place multiply of 128 float32 by a constant."""
    x = numpy.ones(128, dtype=numpy.float32)
    tmp = numpy.empty_like(x)
    const = numpy.asarray(0.9, dtype=numpy.float32)
    return {"multiply(x, 0-d array, tmp)": best_us("np.multiply(x, c, tmp)", np=numpy, x=x, c=const, tmp=tmp),
            "multiply(x, Python float, tmp)": best_us("np.multiply(x, 0.9, tmp)", np=numpy, x=x, tmp=tmp),
            "multiply(x, 0-d array, out=tmp)": best_us("np.multiply(x, c, out=tmp)", np=numpy, x=x, c=const,
                                                       tmp=tmp)}


def main():
    single_thread()
    for cases in (wrap_cases(), relu_cases(), ufunc_scalar_cases()):
        for name, us in cases.items():
            print(f"{name:40s} {us:7.2f} us")
        print()


if __name__ == "__main__":
    main()
