"""``cupy.ElementwiseKernel`` for the NumPy-backed CuPy, run on the CPU (DISTGRAD_FAKE_CUPY_CPU_KERNELS=1):
the kernel's CUDA body is compiled with g++ into a shared library whose C loop over ``i`` does
what CuPy's generated loop does on a card. Every product and sum is rounded on its own
(``-ffp-contract=off``, as distgrad's ``--fmad=false``); erf, tanh, exp, sqrt, nan("") ... are
<cmath>'s, whose last bits may differ from CUDA's math library.

Supported as CuPy has them: array inputs broadcast together with the outputs (NumPy's rules,
which are CuPy's), scalar inputs cast to their parameter's type, ``raw`` inputs (read-only,
indexed in C order), type placeholders (T, I...) taken from the arrays, outputs given or
allocated (an output is not broadcast). Not supported (an AssertionError says so): ``raw`` outputs, float16, complex,
placeholders known from scalars only. Libraries are cached per source (kernel, dtypes, which
inputs are arrays) under the temp folder, so each is compiled once per machine."""
import collections
import ctypes
import hashlib
import os
import subprocess
import tempfile

import numpy as _np

from . import _launched, ndarray

CACHE = os.path.join(tempfile.gettempdir(), f"distgrad_fake_cupy_kernels_{os.getuid()}")
COMPILE = ("g++", "-O2", "-ffp-contract=off", "-fno-fast-math", "-fPIC", "-shared", "-x", "c++")

# parameter type -> (NumPy dtype, C type, ctypes type for a scalar)
CONCRETE = {name: (_np.dtype(name), ctype, cscalar) for name, ctype, cscalar in (
    ("bool", "bool", ctypes.c_bool), ("int8", "signed char", ctypes.c_int8), ("uint8", "unsigned char", ctypes.c_uint8),
    ("int16", "short", ctypes.c_int16), ("uint16", "unsigned short", ctypes.c_uint16),
    ("int32", "int", ctypes.c_int32), ("uint32", "unsigned int", ctypes.c_uint32),
    ("int64", "long long", ctypes.c_int64), ("uint64", "unsigned long long", ctypes.c_uint64),
    ("float32", "float", ctypes.c_float), ("float64", "double", ctypes.c_double))}
RUNS = collections.Counter()  # kernel name -> calls run, for cpu_kernels.py's summary
BY_DTYPE = {dtype: name for name, (dtype, _, _) in CONCRETE.items()}

# CUDA's qualifiers and built-ins for a loop on the host; the math names are <cmath>'s overloads
HEADER = """#include <cmath>
#include <cstddef>
using namespace std;
#define __device__
#define __global__
#define __forceinline__ inline
"""


class Param:
    def __init__(self, spec, is_output):
        words = spec.split()
        assert 2 <= len(words) <= 3 and (len(words) == 2 or words[0] == "raw"), f"unsupported parameter {spec!r}"
        self.raw, self.type_name, self.name, self.is_output = len(words) == 3, words[-2], words[-1], is_output
        assert not (self.raw and is_output), f"raw outputs are not supported here: {spec!r}"

    @property
    def placeholder(self):
        return self.type_name not in CONCRETE


def parse_params(specs, is_output):
    return [Param(spec, is_output) for spec in specs.split(",") if spec.strip()]


class ElementwiseKernel:
    def __init__(self, in_params, out_params, operation, name="kernel", reduce_dims=True, preamble="",
                 no_return=False, return_tuple=False, loop_prep="", after_loop="", options=(), **kwargs):
        assert not (loop_prep or after_loop), "loop_prep and after_loop are not supported by the CPU kernels"
        self.inputs, self.outputs = parse_params(in_params, False), parse_params(out_params, True)
        self.operation, self.name, self.preamble = operation, name, preamble
        self.no_return, self.return_tuple = no_return, return_tuple

    def __call__(self, *args, size=None, block_size=None, stream=None):
        nin, nout = len(self.inputs), len(self.outputs)
        assert len(args) in (nin, nin + nout), f"{self.name}: {len(args)} arguments for {nin} inputs and {nout} outputs"
        for a in args:
            if isinstance(a, _np.ndarray):
                raise TypeError(f"{self.name}: a NumPy array is not a device array")
        types = self._placeholder_dtypes(args)
        shape = self._loop_shape(args, size)
        outs = self._outputs(args[nin:], shape, types)
        host_outs = [_np.ascontiguousarray(o._a) for o in outs]  # copies of non-contiguous views
        host_ins = [self._host_array(p, a, shape, types, outs) for p, a in zip(self.inputs, args[:nin])]
        values = [ctypes.c_void_p(h.ctypes.data) if h is not None else self._c_scalar(p, a, types)
                  for p, a, h in zip(self.inputs, args[:nin], host_ins)]
        values += [ctypes.c_void_p(h.ctypes.data) for h in host_outs]
        _launched("kernel:" + self.name)
        RUNS[self.name] += 1
        n = int(_np.prod(shape, dtype=_np.int64))
        if n:
            scalar_inputs = tuple(h is None for h in host_ins)
            self._library(types, scalar_inputs).run(ctypes.c_longlong(n), *values)
        for out, h in zip(outs, host_outs):
            if h is not out._a:
                out._a[...] = h
        if self.no_return:
            return None
        return tuple(outs) if nout > 1 or self.return_tuple else outs[0]

    def _outputs(self, given, shape, types):
        """The outputs given (of the loop's shape: CuPy never broadcasts one), or new arrays."""
        if not given:
            return [ndarray(_np.empty(shape, self._dtype(p, types))) for p in self.outputs]
        for p, out in zip(self.outputs, given):
            if out.shape != shape:  # CuPy's "Out shape is mismatched"
                raise ValueError(f"{self.name}: output {p.name} has shape {out.shape}, the loop {shape}")
            assert out.dtype == self._dtype(p, types), f"{self.name}: output {p.name} is {out.dtype}, not {p.type_name}"
        return list(given)

    # -------------------------------------------------------------- types and shapes
    def _placeholder_dtypes(self, args):
        """Each placeholder's dtype, from the arrays given for it (all alike, as CuPy demands)."""
        types = {}
        for p, a in zip(self.inputs + self.outputs, args):
            if p.placeholder and isinstance(a, ndarray):
                known = types.setdefault(p.type_name, a.dtype)
                if known != a.dtype:
                    raise TypeError(f"{self.name}: type is mismatched: {p.type_name} is {known} and {a.dtype}")
        for p in self.inputs + self.outputs:
            assert not p.placeholder or p.type_name in types, \
                f"{self.name}: {p.type_name} is given by no array (scalars alone are not supported here)"
        for name, dtype in types.items():
            assert dtype in BY_DTYPE, f"{self.name}: {name} = {dtype} is not supported by the CPU kernels"
        return types

    def _dtype(self, param, types):
        return types[param.type_name] if param.placeholder else CONCRETE[param.type_name][0]

    def _ctype(self, param, types):
        return CONCRETE[BY_DTYPE[self._dtype(param, types)]][1]

    def _loop_shape(self, args, size):
        """The broadcast shape of the non-raw arrays (outputs included), or ``size`` without any."""
        shapes = [a.shape for p, a in zip(self.inputs + self.outputs, args) if not p.raw and isinstance(a, ndarray)]
        if not shapes:
            assert size is not None, f"{self.name}: no array sets the loop's size, and no size= is given"
            return (int(size),)
        try:
            return _np.broadcast_shapes(*shapes)
        except ValueError:
            raise ValueError(f"{self.name}: the shapes {shapes} do not broadcast") from None

    def _host_array(self, param, arg, shape, types, outs):
        """A C-contiguous array of the parameter's dtype for the C loop (None for a scalar): raw
        ones as they are, the others broadcast; a copy where it shares memory with an output, as
        CuPy copies such an input before the launch."""
        if not isinstance(arg, ndarray):
            assert not param.raw, f"{self.name}: raw input {param.name} needs an array, not {type(arg).__name__}"
            return None
        source = arg._a if param.raw else _np.broadcast_to(arg._a, shape)
        host = _np.ascontiguousarray(source, dtype=self._dtype(param, types))
        if any(_np.may_share_memory(host, out._a) for out in outs):
            host = host.copy()
        return host

    def _c_scalar(self, param, value, types):
        return CONCRETE[BY_DTYPE[self._dtype(param, types)]][2](value.item() if hasattr(value, "item") else value)

    # -------------------------------------------------------------- the C source and its library
    def source(self, types, scalar_inputs):
        params, reads = ["long long n_"], []
        for p, scalar in zip(self.inputs, scalar_inputs):
            ctype = self._ctype(p, types)
            if p.raw:
                params.append(f"const {ctype}* __restrict__ {p.name}")
            elif scalar:
                params.append(f"const {ctype} {p.name}")
            else:
                params.append(f"const {ctype}* __restrict__ {p.name}_")
                reads.append(f"const {ctype} {p.name} = {p.name}_[i];")
        for p in self.outputs:
            ctype = self._ctype(p, types)
            params.append(f"{ctype}* __restrict__ {p.name}_")
            reads.append(f"{ctype}& {p.name} = {p.name}_[i];")
        typedefs = "".join(f"typedef {CONCRETE[BY_DTYPE[d]][1]} {name};\n" for name, d in sorted(types.items()))
        body = "\n        ".join(reads)
        return (f"{HEADER}{typedefs}{self.preamble}\n"
                f'extern "C" void run({", ".join(params)}) {{\n'
                f"    for (long long j_ = 0; j_ < n_; ++j_) {{\n        const ptrdiff_t i = j_;\n"
                f"        {body}\n{self.operation}\n    }}\n}}\n")

    def _library(self, types, scalar_inputs):
        key = (tuple(sorted(types.items())), scalar_inputs)
        libraries = self.__dict__.setdefault("_libraries", {})
        if key not in libraries:
            libraries[key] = load_compiled(self.source(types, scalar_inputs))
        return libraries[key]


def load_compiled(source):
    """The library built from ``source``, compiled once per machine (its hash names the file)."""
    os.makedirs(CACHE, exist_ok=True)
    path = os.path.join(CACHE, hashlib.sha256(source.encode()).hexdigest()[:24] + ".so")
    if not os.path.exists(path):
        partial = f"{path}.{os.getpid()}.tmp"  # concurrent builders each write their own, then rename
        proc = subprocess.run([*COMPILE, "-o", partial, "-"], input=source, capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"g++ could not compile the kernel:\n{proc.stderr}\n{source}")
        os.replace(partial, path)
    return ctypes.CDLL(path)
