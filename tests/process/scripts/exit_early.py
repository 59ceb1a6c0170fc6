"""Rank 1 leaves with sys.exit(0) while rank 0 goes on to a collective: rank 0 must not wait
forever for a rank that is gone."""
import sys

import distgrad.distributed as dist

dist.barrier()
if dist.get_rank() == 1:
    sys.exit(0)
dist.barrier()
print("rank 0 passed a barrier that rank 1 never joined")
