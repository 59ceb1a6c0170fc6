"""The arithmetic of benchmarks/ddp.py on made-up runs: which one-process figure a scaling
efficiency divides by, and how the targets are judged."""
import pytest

from benchmarks import ddp
from benchmarks.lib import ddp_repeats


def run(n, batch, framework="distgrad", scaling="weak", **steps_ms):
    modes = {}
    for mode, ms in steps_ms.items():
        ranks = 1 if mode == "alone" else n
        modes[mode] = {"step_ms": ms, "samples_per_s": ranks * batch / (ms / 1e3)}
    return {"framework": framework, "ranks": n, "batch": batch, "scaling": scaling, "modes": modes}


def test_efficiency_prefers_the_one_process_timed_in_the_same_run():
    runs = [run(1, 512, local=3.0), run(2, 512, alone=4.0, local=4.2, ddp=4.4)]
    same_run = ddp.efficiency(runs, "distgrad", "ddp", "local", 2, 512)
    separate = ddp.efficiency(runs, "distgrad", "ddp", "local", 2, 512, same_run=False)
    assert same_run == pytest.approx(4.0 / 4.4)
    assert separate == pytest.approx(3.0 / 4.4)


def test_efficiency_falls_back_to_the_one_rank_run():
    runs = [run(1, 128, local=1.0), run(2, 128, ddp=1.25)]
    assert ddp.efficiency(runs, "distgrad", "ddp", "local", 2, 128) == pytest.approx(0.8)
    assert ddp.efficiency(runs, "distgrad", "ddp", "local", 3, 128) is None


def test_targets_judge_the_measured_ratios():
    runs = [run(1, 512, local=3.0), run(2, 512, alone=3.0, local=3.1, ddp=3.3, flat=3.5, allreduce_only=0.1),
            run(2, 512, framework="torch", torch_ddp=7.0)]
    runs[1]["modes"]["ddp"]["sync_ms"], runs[1]["modes"]["flat"]["sync_ms"] = 0.3, 0.5
    targets = ddp.analyse(runs, [1, 2])["targets"]
    assert targets["efficiency_n2_b512"]["value"] == pytest.approx(3.0 / 3.3)
    assert targets["efficiency_n2_b512"]["met"] is True
    assert targets["vs_torch_ddp_b512"]["value"] == pytest.approx(7.0 / 3.3)
    assert targets["sync_ratio_b512"]["value"] == pytest.approx(0.6)
    assert targets["vs_torch_ddp_b128"]["met"] is None  # not measured, not passed


def test_repeated_runs_judge_the_batch_512_targets_by_their_median():
    samples = [{"efficiency": e, "no_comm_ceiling": 0.9, "barrier_ceiling": 0.88, "ddp_step_ms": 4.0,
                "vs_torch": v, "torch_ddp_step_ms": 8.0} for e, v in ((0.70, 1.7), (0.86, 2.1), (0.95, 2.4))]
    repeated = ddp_repeats.summarise(samples)
    assert repeated["efficiency"] == {"median": 0.86, "min": 0.70, "max": 0.95}
    runs = [run(1, 512, local=3.0), run(2, 512, alone=3.0, ddp=4.0)]
    targets = ddp.analyse(runs, [1, 2], repeated)["targets"]
    assert targets["efficiency_n2_b512"]["value"] == 0.86 and targets["efficiency_n2_b512"]["met"] is True
    assert targets["efficiency_n2_b512"]["detail"] == "median of 3 runs, 0.700 to 0.950"
    assert targets["vs_torch_ddp_b512"]["value"] == 2.1
    single = ddp.analyse(runs, [1, 2])["targets"]["efficiency_n2_b512"]  # no repeats: the sweep's run
    assert single["value"] == pytest.approx(0.75) and "detail" not in single
