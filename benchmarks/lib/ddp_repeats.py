"""The 2-rank, batch-512 point of ddp.py measured again and again: on a shared machine a whole
run can land in a slow minute (NOTES.md has how far single runs of that point moved), so the
targets there are judged on the median of several runs' ratios, each ratio taken inside one
run (distgrad) or between neighbouring runs (distgrad and PyTorch, alternating)."""
import statistics

MODES = ("alone", "local", "barrier", "ddp")


def measure_repeats(n, batch, repeats, distgrad_run, torch_run, log=print):
    """``repeats`` samples of (efficiency, its two ceilings, samples/s over PyTorch DDP's)."""
    samples = []
    for i in range(repeats):
        ours = distgrad_run(n, batch, list(MODES))["modes"]
        theirs = torch_run(n, batch)["modes"]["torch_ddp"] if torch_run is not None else None
        one = n * ours["alone"]["samples_per_s"]
        sample = {"efficiency": ours["ddp"]["samples_per_s"] / one,
                  "no_comm_ceiling": ours["local"]["samples_per_s"] / one,
                  "barrier_ceiling": ours["barrier"]["samples_per_s"] / one,
                  "ddp_step_ms": ours["ddp"]["step_ms"],
                  "vs_torch": ours["ddp"]["samples_per_s"] / theirs["samples_per_s"] if theirs else None,
                  "torch_ddp_step_ms": theirs["step_ms"] if theirs else None}
        samples.append(sample)
        log("  repeat %d/%d: efficiency %.3f (ceilings %.3f no communication, %.3f barrier), vs PyTorch %s" % (
            i + 1, repeats, sample["efficiency"], sample["no_comm_ceiling"], sample["barrier_ceiling"],
            "-" if sample["vs_torch"] is None else "%.2fx" % sample["vs_torch"]))
    return samples


def summarise(samples):
    """Median, lowest and highest of every figure over the repeats."""
    out = {"repeats": len(samples), "samples": samples}
    for key in samples[0] if samples else ():
        values = [s[key] for s in samples if s[key] is not None]
        if values:
            out[key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    return out
