"""Mismatched collectives are caught always (no DISTGRAD_DEBUG): every rank raises, naming
every rank's call, before any garbage is returned; messages of the wrong size are refused by
recv. Each case: one 2-rank job of scripts/mismatched_calls.py (see its docstring)."""
import re

import pytest

from jobs import record, run_job

pytestmark = pytest.mark.timeout(60)


def printed(job, pattern):
    """What the ranks printed matching ``pattern``, anywhere in the output: mpiexec forwards
    each rank's stream in chunks, so one rank's line can land in the middle of another's."""
    return re.findall(pattern + r".*?(?=rank \d (?:raised|done)|\n|$)", job.output)


def both_raise(job, *texts):
    """Each rank printed the error with every text in it and carried on. (Not the exit code:
    the heartbeat layer may still call a normal exit a crash, a separate matter.)"""
    for rank in (0, 1):
        lines = printed(job, rf"rank {rank} raised: \[rank {rank}/2 \S+\] collective #\d+ does not match")
        assert len(lines) == 1, job.output
        for text in texts:
            assert text in lines[0], lines[0]
    return job


@pytest.mark.parametrize("case,texts", [
    ("shapes", ["shape differs: rank 0 has (4,); rank 1 has (6,)",
                "rank 0: all_reduce(op=sum) of float32 (4,); rank 1: all_reduce(op=sum) of float32 (6,)"]),
    ("gather", ["rank 0: all_gather of float32 (2, 3); rank 1: all_gather of float32 (3, 2)"]),
    ("barrier", ["collective differs: rank 0 has all_reduce; rank 1 has barrier"]),
    ("dtypes", ["dtype differs: rank 0 has float32; rank 1 has float64"]),
])
def test_a_mismatched_collective_raises_on_every_rank_naming_both_calls(mpiexec, case, texts):
    job = both_raise(run_job(mpiexec, case, script="mismatched_calls.py", timeout=45), *texts)
    # the slot exchanges stay paired: the next collective works on both ranks
    assert len(printed(job, r"rank [01] done 2\.0")) == 2, job.output


def test_three_values_against_a_hundred_thousand_raise_instead_of_hanging(mpiexec):
    job = both_raise(run_job(mpiexec, "sizes", script="mismatched_calls.py", timeout=45),
                     "shape differs: rank 0 has (3,); rank 1 has (100000,)")
    assert not printed(job, r"rank \d sum")  # neither rank returned a result
    record("mismatched all_reduce (3 vs 100,000) job", job.seconds)


def test_uneven_batches_without_join_stop_before_a_corrupted_step(mpiexec):
    # rank 1's metric all_reduce meets rank 0's gradient bucket: the 15 floats of Linear(4, 3)
    # and the bucket's count of parameters left without a gradient, summed with them
    job = both_raise(run_job(mpiexec, "uneven", script="mismatched_calls.py", timeout=45),
                     "rank 0: all_reduce(op=sum) of float32 (16,); rank 1: all_reduce(op=sum) of float32 (1,)")
    assert "rank 0 step 1 applied" in job.output and "rank 1 step 1 applied" in job.output
    assert "step 2 applied" not in job.output and "metric" not in job.output


@pytest.mark.parametrize("case,sent,room", [("recv_larger", 12, 20), ("recv_smaller", 20, 12)])
def test_recv_refuses_a_message_of_another_size_naming_both(mpiexec, case, sent, room):
    job = run_job(mpiexec, case, script="mismatched_calls.py", timeout=45)
    line = printed(job, r"rank 1 raised: ")
    assert line and re.search(rf"recv: rank 0 sent a message of {sent} bytes .* holds {room} bytes", line[0]), \
        job.output
    assert "pending" not in job.output  # the refused message was taken off the wire
