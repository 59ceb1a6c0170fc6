"""Which steps a profile records: PyTorch's ``torch.profiler.schedule`` and ProfilerAction."""
from enum import Enum


class ProfilerAction(Enum):
    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3


RECORDING = (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE)


def schedule(*, wait, warmup, active, repeat=0, skip_first=0, skip_first_wait=0):
    """Skip ``skip_first`` steps, then cycle: ``wait`` idle steps, ``warmup`` steps, ``active``
    recorded steps (the last one hands the trace to ``on_trace_ready``); ``repeat`` cycles, 0
    for as many as run. A nonzero ``skip_first_wait`` drops the first cycle's wait."""
    if wait < 0 or warmup < 0 or active <= 0 or repeat < 0 or skip_first < 0:
        raise ValueError(f"schedule: need wait >= 0, warmup >= 0, active > 0, repeat >= 0, skip_first >= 0; "
                         f"got wait={wait}, warmup={warmup}, active={active}, repeat={repeat}, "
                         f"skip_first={skip_first}")
    cycle = wait + warmup + active

    def action(step):
        if step < 0:
            raise ValueError(f"schedule: step must be non-negative, got {step}")
        if step < skip_first:
            return ProfilerAction.NONE
        step -= skip_first
        if skip_first_wait:
            step += wait
        if repeat and step >= repeat * cycle:
            return ProfilerAction.NONE
        position = step % cycle
        if position < wait:
            return ProfilerAction.NONE
        if position < wait + warmup:
            return ProfilerAction.WARMUP
        return ProfilerAction.RECORD if position < cycle - 1 else ProfilerAction.RECORD_AND_SAVE

    return action


def record_everything(step):
    """The schedule of a profile given none: every step recorded, nothing handed over until stop."""
    return ProfilerAction.RECORD
