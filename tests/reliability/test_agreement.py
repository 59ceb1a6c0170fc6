"""Ranks that disagree on the epoch ahead (more batches on one rank, another epoch's
shuffle) are stopped at the start of the epoch with every rank's view named, never left to
hang in an all-reduce the others never join. (A model that differs between ranks is refused
when DistributedDataParallel wraps it: tests/distributed/test_ddp_robustness.py.)"""
import pytest

import distgrad as dg
from distgrad.data import DataLoader, TensorDataset
from distgrad.distributed.agreement import check_epoch
from jobs import run_job

pytestmark = pytest.mark.timeout(120)


def refused(job, text):
    """Every rank raises the same error; the first to abort may end the job before the other
    has printed it."""
    assert job.returncode != 0
    lines = job.lines(r"^\[rank (\d)/2 \S+\] RuntimeError: \[rank \1/2 \S+\] check_epoch: ")
    assert lines and all(text in line for line in lines), job.output


def test_a_rank_with_more_batches_is_caught_at_the_start_of_the_epoch(mpiexec):
    job = run_job(mpiexec, "--epochs", 2, "--fault", "uneven", "--fault-rank", 1)
    refused(job, "the ranks disagree on the epoch ahead (rank 0: epoch 1, 8 batches; "
                 "rank 1: epoch 1, 9 batches); every rank must get the same number of batches")
    assert "digest" not in job.output  # not one epoch ran


def test_a_rank_on_another_epoch_is_caught(mpiexec):
    job = run_job(mpiexec, "--epochs", 2, "--fault", "epoch", "--fault-rank", 1)
    refused(job, "(rank 0: epoch 1, 8 batches; rank 1: epoch 2, 8 batches); every rank must "
                 "run the same epoch")


def test_a_world_of_one_always_agrees_and_a_loader_without_length_is_refused():
    loader = DataLoader(TensorDataset(dg.zeros(10, 2)), batch_size=3)
    check_epoch(loader, 1)
    with pytest.raises(TypeError, match=r"check_epoch: object has no length"):
        check_epoch(object())
