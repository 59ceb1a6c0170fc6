"""distgrad.memory: host memory counts through tracemalloc's NumPy domain."""
import tracemalloc

import numpy as np
import pytest

import distgrad
from distgrad import memory


@pytest.fixture
def counting():
    was_tracing = tracemalloc.is_tracing()
    memory.enable()
    yield
    if not was_tracing:
        memory.disable()


def test_nothing_is_counted_until_first_use():
    if tracemalloc.is_tracing():
        pytest.skip("tracemalloc was started outside distgrad")
    assert not memory.is_enabled()
    assert memory.stats()["allocated_bytes.all.current"] == 0 and not memory.is_enabled()
    memory.memory_allocated()  # the first count starts counting
    assert memory.is_enabled()
    memory.disable()
    assert not memory.is_enabled()


def test_a_tensor_s_bytes_show_in_current_and_peak_and_leave_with_it(counting):
    before = memory.memory_allocated()
    numpy_before = memory.stats()["numpy_bytes.all.current"]
    x = distgrad.zeros(1000, 1000, dtype=distgrad.float64)  # 8 MB
    held = memory.memory_allocated() - before
    assert 8_000_000 <= held < 8_100_000
    assert 8_000_000 <= memory.stats()["numpy_bytes.all.current"] - numpy_before < 8_010_000
    del x
    assert memory.memory_allocated() - before < 100_000
    assert memory.max_allocated() - before >= 8_000_000
    memory.reset_peak()
    assert memory.max_allocated() - before < 100_000


def test_peak_sees_a_temporary_that_is_gone(counting):
    memory.reset_peak()
    start = memory.memory_allocated()
    y = (distgrad.ones(500, 500, dtype=distgrad.float64) * 2).sum()  # 2 MB, freed inside
    assert float(y) == 500_000
    assert memory.max_allocated() - start >= 2_000_000
    assert memory.memory_allocated() - start < 100_000


def test_cuda_counts_are_zero_without_a_gpu():
    if distgrad.cuda.is_available():
        pytest.skip("a GPU is present")
    assert distgrad.cuda.memory_allocated() == 0 and distgrad.cuda.max_memory_allocated() == 0
    assert distgrad.cuda.memory_stats()["allocated_bytes.all.peak"] == 0
    distgrad.cuda.reset_peak_memory_stats()
