"""A rank fails mid-training (killed, or raising in backward, in a collective, in the data
loader, while writing a checkpoint): the whole job ends within seconds, non-zero, naming the
failed rank, and training resumes from the last checkpoint to exactly the parameters of a run
that never failed. Each job runs scripts/train.py on 2 ranks under a deadline (jobs.py)."""
import re

import numpy as np
import pytest

import distgrad.nn as nn
from distgrad.utils.checkpoint import Checkpointer
from jobs import record, run_job, time_of

pytestmark = pytest.mark.timeout(180)
FAULT_LINE = r"\[train rank \d\] fault "


def final_parameters(prefix, ranks=2):
    return [np.load(f"{prefix}.rank{r}.npy") for r in range(ranks)]


def test_a_killed_rank_ends_the_job_and_resuming_matches_a_run_that_never_failed(tmp_path, mpiexec):
    clean = run_job(mpiexec, "--epochs", 4, "--checkpoint-dir", tmp_path / "clean", "--final", tmp_path / "clean")
    assert clean.returncode == 0, clean.output

    # Step 20 is in epoch 3 (8 steps an epoch): the checkpoints of epochs 1 and 2 exist.
    crashed = run_job(mpiexec, "--epochs", 4, "--checkpoint-dir", tmp_path / "ckpt", "--fault", "kill",
                      "--fault-rank", 1, "--fault-step", 20)
    assert crashed.returncode != 0
    assert "done:" not in crashed.output
    # Named by the survivors' heartbeats (the rank) or by mpiexec (the host), whichever is first.
    assert ("[rank 0/2 " in crashed.output and "lost contact with rank 1 (host " in crashed.output) or \
        re.search(r"BAD TERMINATION.*\n=\s+PID \d+ RUNNING AT \S+", crashed.output), crashed.output
    record("SIGKILLed rank (2 ranks, one host): job ended after",
           crashed.ended - time_of(crashed.output, FAULT_LINE))
    names = sorted(p.name for p in (tmp_path / "ckpt").glob("checkpoint-*.dgc"))
    assert names == ["checkpoint-0001-00000008.dgc", "checkpoint-0002-00000016.dgc"]

    resumed = run_job(mpiexec, "--epochs", 4, "--checkpoint-dir", tmp_path / "ckpt", "--resume",
                      "--final", tmp_path / "resumed")
    assert resumed.returncode == 0, resumed.output
    assert resumed.output.count("resumed after epoch 2 (step 16)") == 2
    expected = final_parameters(tmp_path / "clean")
    assert np.array_equal(expected[0], expected[1])
    for got in final_parameters(tmp_path / "resumed"):
        np.testing.assert_array_equal(got, expected[0])  # bit for bit


@pytest.mark.parametrize("fault, rank, at, error", [
    ("backward", 1, 3, "ValueError: simulated failure inside backward on rank 1"),
    ("collective", 1, 3, "RuntimeError: [rank 1/2 {host}] simulated network failure inside all_reduce"),
    ("loader", 1, 3, "OSError: [Errno 5] simulated read error while loading a batch"),
    ("checkpoint", 0, 2, "OSError: [Errno 28] No space left on device (simulated)"),
])
def test_an_exception_on_one_rank_ends_the_job_with_that_ranks_traceback(tmp_path, fault, rank, at, error, mpiexec):
    ckpt_dir = tmp_path / "ckpt"
    job = run_job(mpiexec, "--epochs", 3, "--checkpoint-dir", ckpt_dir, "--fault", fault, "--fault-rank", rank,
                  "--fault-step", at)
    assert job.returncode != 0
    host = re.search(rf"\[rank {rank}/2 (\S+)\]", job.output).group(1)
    prefix = f"[rank {rank}/2 {host}] "
    lines = job.output.splitlines()
    assert prefix + "Traceback (most recent call last):" in lines, job.output
    assert any(line.startswith(prefix + error.format(host=host)) for line in lines), job.output
    assert any(line.startswith(prefix) and "aborting all ranks (MPI_Abort)" in line for line in lines)
    assert "done:" not in job.output
    # The failing rank announced its abort: the other one does not report it as lost.
    assert "lost contact" not in job.output
    record(f"exception in {fault}: job ended after", job.ended - time_of(job.output, FAULT_LINE))
    if fault == "checkpoint":
        # The write of epoch 2 failed half-way: epoch 1's checkpoint is intact and loadable,
        # and no temporary file is left behind.
        assert sorted(p.name for p in ckpt_dir.iterdir()) == ["checkpoint-0001-00000008.dgc"]
        model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
        state = Checkpointer(ckpt_dir).load(model)
        assert (state["epoch"], state["step"]) == (1, 8)
