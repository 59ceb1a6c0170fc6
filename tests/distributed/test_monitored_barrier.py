"""monitored_barrier: passes when every rank comes; names the late rank (and what it is doing)
when one does not come within the timeout."""
import datetime
import time

import pytest

import distgrad.distributed as dist


@pytest.mark.mpi(min_size=2)
@pytest.mark.timeout(60, method="thread")
def test_monitored_barrier_passes_and_names_a_rank_that_does_not_come_in_time():
    dist.monitored_barrier(timeout=datetime.timedelta(seconds=20))
    late = dist.get_world_size() - 1
    if dist.get_rank() == late:
        time.sleep(2.0)  # busy: no collective, no answer
        dist.monitored_barrier(timeout=30)  # arrives: the others' barrier completes in the background
    else:
        with pytest.raises(RuntimeError, match=rf"monitored_barrier: not every rank arrived within 0.5 s; "
                                              rf"ranks that have not arrived: rank {late} \(no answer: busy"):
            dist.monitored_barrier(timeout=0.5)
    dist.barrier()


def test_a_bad_timeout_is_refused():
    with pytest.raises(ValueError, match="timeout must be positive"):
        dist.monitored_barrier(timeout=-1)
