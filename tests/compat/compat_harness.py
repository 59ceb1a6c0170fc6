"""Runs a PyTorch program of programs/ in this process, under PyTorch or (imports rewritten)
under distgrad, and reads the losses it prints.

Both runs start from the same weights: the program under PyTorch first saves its freshly
built model (``--steps 0 --save-model``), and each run loads that state (``--init``), as a
checkpoint, in its own library's format.

Both runs also draw the same random numbers: the libraries' generators differ, so while a
program runs, its own calls of randn/rand/randint/randperm/randn_like/rand_like and the
DataLoader's shuffling draw from one NumPy stream, restarted by the program's manual_seed.
Calls made inside either library (initializers, dropout) keep their own generators; the
programs' dropout is set to 0 by the tests.
"""
import contextlib
import io
import re
import sys
from pathlib import Path

import numpy as np

from compat_rewrite import to_distgrad

PROGRAMS = Path(__file__).resolve().parent / "programs"
_LOSS_LINE = re.compile(r"loss", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d+\.\d+(?:[eE][-+]?\d+)?|-?\d+[eE][-+]?\d+|\bnan\b|\binf\b")


def losses(output):
    """Every decimal number on the lines that mention a loss, in order."""
    return [float(n) for line in output.splitlines() if _LOSS_LINE.search(line) for n in _NUMBER.findall(line)]


class SharedRandom:
    """Patches ``lib`` so the program's random draws come from one NumPy stream (see the
    module doc); ``with SharedRandom(lib, filename):``."""

    NAMES = ("manual_seed", "randn", "rand", "randint", "randperm", "randn_like", "rand_like")

    def __init__(self, lib, filename, sampler_classes):
        self.lib, self.filename, self.samplers = lib, filename, sampler_classes
        self.stream = np.random.default_rng(0)
        self.saved = {}

    def _from_program(self):
        return sys._getframe(2).f_code.co_filename == self.filename

    def _tensor(self, values, dtype, requires_grad=False):
        t = self.lib.tensor(values, dtype=dtype)
        return t.requires_grad_() if requires_grad else t

    def _patched(self, name, original):
        lib, rs = self.lib, self

        def floating(draw):
            def make(*size, dtype=None, device=None, requires_grad=False, generator=None, **_):
                if len(size) == 1 and not isinstance(size[0], int):  # randn((2, 3)) or randn(x.shape)
                    size = tuple(size[0])
                return rs._tensor(draw(size), dtype or lib.get_default_dtype(), requires_grad)
            return make

        def like(draw):
            return lambda x, dtype=None, **_: rs._tensor(draw(tuple(x.shape)), dtype or x.dtype)

        def randint(*args, size=None, dtype=None, device=None, generator=None, **_):
            args = list(args)
            if size is None:
                size = args.pop()
            low, high = (0, args[0]) if len(args) == 1 else args
            return rs._tensor(rs.stream.integers(low, high, size=tuple(size)), dtype or lib.int64)

        def manual_seed(seed):
            rs.stream = np.random.default_rng(int(seed))
            return original(seed)

        replacement = {
            "manual_seed": manual_seed,
            "randn": floating(lambda s: rs.stream.standard_normal(s)),
            "rand": floating(lambda s: rs.stream.random(s)),
            "randint": randint,
            "randperm": lambda n, dtype=None, **_: rs._tensor(rs.stream.permutation(n), dtype or lib.int64),
            "randn_like": like(lambda s: rs.stream.standard_normal(s)),
            "rand_like": like(lambda s: rs.stream.random(s)),
        }[name]

        def dispatch(*args, **kwargs):
            if name == "manual_seed" or rs._from_program():
                return replacement(*args, **kwargs)
            return original(*args, **kwargs)
        return dispatch

    def __enter__(self):
        for name in self.NAMES:
            original = getattr(self.lib, name)
            self.saved[(self.lib, name)] = original
            setattr(self.lib, name, self._patched(name, original))
        rs = self

        def order(sampler):
            return rs.stream.permutation(len(sampler.data_source))
        for cls in self.samplers:
            # Saved from the class's own namespace (None: inherited), so __exit__ restores
            # exactly what was there.
            self.saved[(cls, "__iter__")] = cls.__dict__.get("__iter__")
            cls.__iter__ = lambda sampler: iter(order(sampler).tolist())
            if hasattr(cls, "chunks"):  # distgrad's BatchSampler slices the pass's index arrays
                self.saved[(cls, "chunks")] = cls.__dict__.get("chunks")
                cls.chunks = lambda sampler: iter([order(sampler)])
        return self

    def __exit__(self, *exc):
        for (owner, name), value in self.saved.items():
            if value is None:
                delattr(owner, name)
            else:
                setattr(owner, name, value)


def _library(name):
    if name == "torch":
        import torch
        import torch.utils.data.sampler as sampler
        torch.set_num_threads(1)
        return torch, [sampler.RandomSampler]
    import distgrad
    import distgrad.data.sampler as sampler
    return distgrad, [sampler.RandomSampler]


def source_of(program, library):
    text = (PROGRAMS / program).read_text()
    return text if library == "torch" else to_distgrad(text)


def run(program, library, argv):
    """Run programs/``program`` under ``library`` ('torch' or 'distgrad') with ``argv``;
    returns what it printed."""
    lib, samplers = _library(library)
    filename = f"<{library}:{program}>"
    code = compile(source_of(program, library), filename, "exec")
    out = io.StringIO()
    saved_argv, saved_dtype = sys.argv, lib.get_default_dtype()
    sys.argv = [program] + [str(a) for a in argv]
    try:
        with SharedRandom(lib, filename, samplers), contextlib.redirect_stdout(out):
            exec(code, {"__name__": "__main__", "__file__": str(PROGRAMS / program)})
    finally:
        sys.argv = saved_argv
        lib.set_default_dtype(saved_dtype)
    return out.getvalue()


def torch_checkpoint_to_distgrad(torch_path, distgrad_path):
    """A state saved by torch.save (tensors in nested dicts/lists), saved again by distgrad."""
    import distgrad
    import torch

    def convert(obj):
        if isinstance(obj, torch.Tensor):
            return distgrad.tensor(obj.detach().numpy())
        if isinstance(obj, dict):
            return {k: convert(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return type(obj)(convert(v) for v in obj)
        return obj
    distgrad.save(convert(torch.load(torch_path)), distgrad_path)
