"""What one GPU training step of each model of gpu_step_time.py costs besides arithmetic: the
device->host synchronizations (each stalls the launch queue until the device catches up) with
the source lines that cause them, and the kernel launches (~5-10 us each on a GPU) by distgrad
op, forward and backward, top 15.

    python -m benchmarks.gpu_launches                  # every model; writes results/gpu_launches.json
    python -m benchmarks.gpu_launches --cases mlp_512 cnn_256 --steps 2

Counted on the NumPy-backed CuPy of tests/gpu/fake_cupy (real CuPy arrays cannot be hooked), so
it runs the same with or without a GPU. A launch is a call that would run a kernel on a GPU:
an operator, ufunc, reduction, matmul, copy or fill (views and bare allocations run none; a
cuBLAS call counts as one). The fused kernels of distgrad.cuda need a real GPU, so they are off
here (tests/gpu/fake_cupy/no_kernels.py): where a GPU takes a fused path it launches fewer.
Counts are per step, after one warm-up step (which creates the optimizer's state).
"""
import argparse
import collections
import json
import linecache
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKE_CUPY = os.path.join(ROOT, "tests", "gpu", "fake_cupy")
RESULT = os.path.join(ROOT, "benchmarks", "results", "gpu_launches.json")
DISTGRAD = os.path.join(ROOT, "distgrad") + os.sep
TOP = 15
TENSOR_FILES = (DISTGRAD + "tensor.py", DISTGRAD + "tensor_base.py")


def use_fake_cupy():
    """The NumPy-backed CuPy first on the path, before distgrad imports one; its fused kernels off."""
    if "distgrad" in sys.modules or "cupy" in sys.modules:
        raise RuntimeError("gpu_launches must set up the fake CuPy before distgrad or cupy is imported")
    sys.path.insert(0, FAKE_CUPY)
    import cupy
    import no_kernels  # noqa: F401  (routes distgrad around the fused kernels)
    return cupy


def a_gpu_is_here():
    return os.path.exists("/dev/nvidiactl")


def _caller_frames(frame):
    """Frames from ``frame`` outwards, past the fake CuPy, NumPy and this file."""
    own = (FAKE_CUPY, os.path.dirname(os.path.abspath(__file__)) + os.sep + "gpu_launches", "numpy" + os.sep)
    while frame is not None:
        if not any(part in frame.f_code.co_filename for part in own):
            yield frame
        frame = frame.f_back


def _where(f):
    path = os.path.relpath(f.f_code.co_filename, ROOT)
    code = linecache.getline(f.f_code.co_filename, f.f_lineno).strip()
    return "%s:%d (%s): %s" % (path, f.f_lineno, f.f_code.co_qualname, code)


def source_line(frame):
    """'distgrad/x.py:12 (function): code' of the first caller outside the fake and NumPy; for a
    Tensor's own conversion (Tensor.item, float(tensor)), the line that called it."""
    via = None
    for f in _caller_frames(frame):
        if f.f_code.co_filename in TENSOR_FILES:
            via = via or f.f_code.co_qualname
            continue
        return _where(f) + ("  via %s" % via if via else "")
    return "?"


class StepCounter:
    """The fake CuPy's observer: counts syncs by source line, launches by distgrad op."""

    def __init__(self, function_class):
        self.function_class = function_class
        self.reset()

    def reset(self):
        self.syncs = collections.Counter()
        self.launches = collections.Counter()
        self.kinds = collections.Counter()
        self.copies_to_device = collections.Counter()

    def synced(self, what):
        self.syncs["%s  [%s]" % (source_line(sys._getframe(1)), what)] += 1

    def launched(self, what):
        op = self.op_label(sys._getframe(1))
        self.launches[op] += 1
        self.kinds[op, what] += 1

    def copied_to_device(self, value):
        self.copies_to_device[source_line(sys._getframe(1))] += 1

    def op_label(self, frame):
        """'Conv2d.backward' inside a Function's forward or backward; else the distgrad code running
        (outermost > innermost function: 'SGD.step > _update'), or the caller's line."""
        innermost = outermost = None
        for f in _caller_frames(frame):
            name = f.f_code.co_name
            if name in ("forward", "backward") and isinstance(f.f_locals.get("self"), self.function_class):
                return "%s.%s" % (type(f.f_locals["self"]).__name__, name)
            if f.f_code.co_filename.startswith(DISTGRAD):
                innermost = innermost or f.f_code.co_qualname
                outermost = f.f_code.co_qualname
        if innermost is None:
            return "outside distgrad: " + source_line(frame)
        return outermost if outermost == innermost else "%s > %s" % (outermost, innermost)


def per_step(counter, steps, top=None):
    return [{"where": key, "per_step": round(n / steps, 2)} for key, n in counter.most_common(top)]


def count_case(case, steps, counter, fake):
    from .gpu_step_time import build_step
    step, _ = build_step("distgrad", case)
    step()  # warm-up: the optimizer's state is created in the first step
    counter.reset()
    fake.observer = counter
    try:
        for _ in range(steps):
            step()
    finally:
        fake.observer = None
    by_op = []
    for entry in per_step(counter.launches, steps, TOP):
        kinds = collections.Counter({k: n for (op, k), n in counter.kinds.items() if op == entry["where"]})
        by_op.append({"op": entry["where"], "per_step": entry["per_step"],
                      "kinds": {k: round(n / steps, 2) for k, n in kinds.most_common(5)}})
    return {"case": case, "steps_counted": steps,
            "syncs_per_step": round(sum(counter.syncs.values()) / steps, 2),
            "launches_per_step": round(sum(counter.launches.values()) / steps, 2),
            "host_to_device_copies_per_step": round(sum(counter.copies_to_device.values()) / steps, 2),
            "sync_sources": per_step(counter.syncs, steps),
            "launches_by_op_top15": by_op,
            "host_to_device_sources": per_step(counter.copies_to_device, steps)}


def print_case(row):
    print("\n== %s: %g syncs, %g launches, %g host->device copies per step" % (
        row["case"], row["syncs_per_step"], row["launches_per_step"], row["host_to_device_copies_per_step"]))
    for entry in row["sync_sources"]:
        print("  sync %6g  %s" % (entry["per_step"], entry["where"]))
    for entry in row["launches_by_op_top15"]:
        print("  launches %6g  %s  %s" % (entry["per_step"], entry["op"], entry["kinds"]))
    for entry in row["host_to_device_sources"]:
        print("  to device %6g  %s" % (entry["per_step"], entry["where"]))


def main(argv=None):
    fake = use_fake_cupy()
    from .gpu_step_time import CASES
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--steps", type=int, default=2, help="steps counted per model, after one warm-up step")
    parser.add_argument("--out", default=RESULT, help="the JSON file to write ('' for none)")
    args = parser.parse_args(argv)
    from distgrad.function import Function
    where = ("a GPU is here, but real CuPy arrays cannot be hooked: counted on the NumPy-backed CuPy stand-in"
             if a_gpu_is_here() else "no GPU here: counted on the NumPy-backed CuPy stand-in")
    print("gpu_launches: %s (tests/gpu/fake_cupy), fused kernels off" % where, flush=True)
    counter = StepCounter(Function)
    rows = []
    for case in args.cases:
        rows.append(count_case(case, args.steps, counter, fake))
        print_case(rows[-1])
        sys.stdout.flush()
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"counted_on": where, "fused_kernels": False, "rows": rows}, f, indent=1)
            f.write("\n")
        print("\nwritten:", os.path.relpath(args.out, ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
