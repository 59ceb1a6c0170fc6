"""What watches a GPU run: the profiler's CUDA activity times the ops on device arrays through
CUDA event pairs (the Self CUDA columns), and the torch.cuda-style memory counts follow the
allocations of CuPy's memory pool."""
import numpy as np

import distgrad as dg
import distgrad.nn as nn
from distgrad.profiler import ProfilerActivity, profile
from gpu_support import GPU_ONLY

pytestmark = GPU_ONLY


def mlp_step():
    dg.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)).cuda()
    x = dg.tensor(np.random.default_rng(0).standard_normal((256, 64)).astype(np.float32), device="cuda")
    y = dg.tensor(np.arange(256) % 10, device="cuda")

    def step():
        model.zero_grad()
        nn.CrossEntropyLoss()(model(x), y).backward()
    return step


def test_profiler_times_gpu_ops_with_cuda_events():
    step = mlp_step()
    step()
    assert ProfilerActivity.CUDA in dg.profiler.supported_activities()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        step()
    rows = prof.key_averages()
    timed = [row for row in rows if row.device_time_total > 0]
    assert timed, "no op got a CUDA time"
    assert all(row.cuda_time_total == row.device_time_total for row in rows)
    table = rows.table(sort_by="cuda_time_total", row_limit=8)
    assert "Self CUDA" in table and "Self CUDA time total" in table
    with profile(activities=[ProfilerActivity.CPU]) as cpu_only:
        step()
    assert all(row.device_time_total == 0 for row in cpu_only.key_averages())


def test_memory_counts_follow_allocations_on_a_real_gpu():
    dg.cuda.synchronize()
    before = dg.cuda.memory_allocated()
    block = dg.zeros(1 << 21, device="cuda")  # 8 MiB of float32
    during = dg.cuda.memory_allocated()
    assert during - before >= 8 << 20
    assert dg.cuda.max_memory_allocated() >= during
    assert dg.cuda.memory_reserved() >= during
    stats = dg.cuda.memory_stats()
    assert stats["allocated_bytes.all.current"] == during
    del block
    assert dg.cuda.memory_allocated() <= during - (8 << 20)
    dg.cuda.reset_peak_memory_stats()
    assert dg.cuda.max_memory_allocated() < during
