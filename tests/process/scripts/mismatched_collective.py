"""Run with DISTGRAD_DEBUG=1: rank 0 all-reduces shape (3,), rank 1 shape (4,)."""
import distgrad as dg
import distgrad.distributed as dist

dist.all_reduce(dg.ones(3 + dist.get_rank()))
print("mismatch not caught")
