"""Every kernel of distgrad.cuda.kernels as a complete CUDA translation unit, for compiling
with NVRTC where there is no GPU to run CuPy's own build (CuPy wraps an elementwise body in a
loop over ``i``; here each parameter becomes a plain pointer or value at element ``i``)."""
from distgrad.cuda import kernels

TYPES = {"T": "{ctype}", "I": "long long", "int64": "long long", "bool": "bool"}
# The inputs that the wrappers in kernels.py pass as arrays (the other T inputs are scalars).
ARRAY_INPUTS = {"sgd": {"g"}, "sgd_momentum": {"g"}, "adam": {"g"}, "adam_amsgrad": {"g"},
                "bias_relu": {"y", "b"}, "relu_backward": {"g", "out"}, "cross_entropy_backward": set(),
                "lstm_cell_forward": {"pre_o", "pre_i", "pre_f", "pre_g", "c_prev"},
                "lstm_cell_backward": {"dh", "dy", "o_act", "i_act", "f_act", "g_act", "tanh_c", "c_prev"},
                "lstm_cell_backward_projected": {"dh", "o_act", "i_act", "f_act", "g_act", "tanh_c", "c_prev"},
                "gelu": {"x"}, "gelu_tanh": {"x"}}


def elementwise_source(name, ctype):
    in_params, out_params, body = kernels.ELEMENTWISE[name]
    params, decls = [], []
    for spec, is_out in [(p, False) for p in in_params.split(",")] + [(p, True) for p in out_params.split(",")]:
        words = spec.split()
        raw = words[0] == "raw"
        type_name, var = words[-2], words[-1]
        ctype_of = TYPES[type_name].replace("{ctype}", ctype)
        if raw:
            params.append(f"const {ctype_of}* {var}")
        elif var in ARRAY_INPUTS[name] or is_out:
            params.append(f"{ctype_of}* {var}_")
            decls.append(f"{ctype_of}& {var} = {var}_[i];" if is_out else f"const {ctype_of} {var} = {var}_[i];")
        else:
            params.append(f"{ctype_of} {var}")
    return (f"{kernels._PREAMBLE}\nextern \"C\" __global__ void {name}({', '.join(params)}) {{\n"
            f"    typedef {ctype} T;\n    typedef long long I;\n"
            f"    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;\n    "
            + "\n    ".join(decls) + f"\n{body}\n}}\n")


def raw_source(name, ctype):
    return kernels.RAW[name].replace("{ctype}", ctype)


def all_sources():
    """(label, source) for every kernel and every type it is built for."""
    out = []
    for name in kernels.ELEMENTWISE:
        for ctype in ("float", "double"):
            out.append((f"{name}[{ctype}]", elementwise_source(name, ctype)))
    for ctype in ("float", "double"):
        out.append((f"cross_entropy_forward[{ctype}]", raw_source("cross_entropy_forward", ctype)))
    for ctype in kernels._COPY_CTYPES.values():
        out.append((f"copy_segments[{ctype}]", raw_source("copy_segments", ctype)))
    return out
