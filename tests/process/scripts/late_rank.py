"""Run with DISTGRAD_STALL_WARNING_SECONDS=1: rank 1 sleeps before a collective the others
wait in, long enough for a stall warning."""
import time

import distgrad as dg
import distgrad.distributed as dist

dist.barrier()
if dist.get_rank() == 1:
    time.sleep(3)
t = dg.ones(3)
dist.all_reduce(t)
assert t.tolist() == [float(dist.get_world_size())] * 3
print(f"rank {dist.get_rank()} done")
