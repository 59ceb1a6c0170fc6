"""Elastic training: a job restarted by ``distgrad-run --max-restarts K`` continues where its
newest committed state left off, on however many ranks remain.

    State(model, optimizer, scheduler=None, sampler=None, **user_values)   # commit/save/restore
    ElasticSampler(dataset, ...)   # a DistributedSampler that re-shards the rest of the epoch
    steps(loader, n), micro_steps(ddp, batches)   # keep_global_batch: n batches per step
"""
from .accumulation import micro_steps, steps
from .sampler import ElasticSampler
from .state import State

__all__ = ["ElasticSampler", "State", "micro_steps", "steps"]
