"""Rank 1 raises; rank 0 goes on to a collective that rank 1 never joins. The job must end
at once with rank 1 named, not hang."""
import distgrad as dg
import distgrad.distributed as dist

dist.barrier()
if dist.get_rank() == 1:
    raise ValueError("deliberate failure on rank 1")
dist.all_reduce(dg.ones(3))
dist.barrier()
print("rank 0 finished: the failure was not noticed")
