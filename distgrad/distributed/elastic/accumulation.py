"""Gradient accumulation for ElasticSampler(keep_global_batch=True): a training loop takes
``per_step`` batches per optimizer step, all-reducing the gradients only in the last one.

    per_step = sampler.micro_batches_per_step()
    for batches in steps(loader, per_step):
        for inputs, labels in micro_steps(ddp, batches):
            (criterion(ddp(inputs), labels) / len(batches)).backward()
        optimizer.step()
        optimizer.zero_grad()
"""
import contextlib


def steps(batches, per_step):
    """The batches of a pass in lists of ``per_step`` (the last list may be shorter)."""
    if int(per_step) < 1:
        raise ValueError(f"elastic.steps: per_step must be at least 1, got {per_step}")
    group = []
    for batch in batches:
        group.append(batch)
        if len(group) == per_step:
            yield group
            group = []
    if group:
        yield group


def micro_steps(model, batches):
    """Each of one step's ``batches``, the backward of all but the last inside the model's
    ``no_sync()`` (DistributedDataParallel): one all-reduce per step, of the summed gradients."""
    no_sync = getattr(model, "no_sync", contextlib.nullcontext)
    for j, batch in enumerate(batches):
        with no_sync() if j < len(batches) - 1 else contextlib.nullcontext():
            yield batch
