"""Seeded random numbers: one generator for the CPU, one per GPU, both set by manual_seed."""
import numpy

from .backend import cupy, cuda

_cpu = numpy.random.default_rng(0)
_seed = 0


def manual_seed(seed):
    """Seed every generator distgrad uses (CPU and, where present, CUDA)."""
    global _cpu, _seed
    _seed = int(seed)
    _cpu = numpy.random.default_rng(_seed)
    if cuda.is_available():
        cupy.random.seed(_seed)
    return _seed


seed = manual_seed


def initial_seed():
    return _seed


def generator_for(xp):
    """The random generator for an array module (NumPy's Generator API on both)."""
    if xp is numpy:
        return _cpu
    return xp.random


def get_rng_state():
    """The CPU generator's state as a plain dict (goes into checkpoints)."""
    return _cpu.bit_generator.state


def set_rng_state(state):
    _cpu.bit_generator.state = state


class Generator:
    """A private stream of random numbers, as torch.Generator (used by data loaders)."""

    def __init__(self, device="cpu"):
        self._rng = numpy.random.default_rng(0)

    def manual_seed(self, seed):
        self._rng = numpy.random.default_rng(int(seed))
        return self

    def get_state(self):
        return self._rng.bit_generator.state

    def set_state(self, state):
        self._rng.bit_generator.state = state

    @property
    def rng(self):
        return self._rng
