"""The examples, as users run them: two ranks under mpiexec on real MNIST, a few steps of
each epoch, then the metrics JSON and the plot they promise."""
import importlib.util
import json
import os
import sys

import pytest

from jobs import REPO, clean_environment, run

MNIST = os.environ.get("DISTGRAD_DATA") or str(REPO.parent / "shared" / "datasets" / "mnist")
EXAMPLES = {  # name: (extra arguments, whether it writes checkpoints)
    "mnist_mlp": ([], True),
    "mnist_cnn": (["--sync-bn"], True),
    "grad_accumulation": (["--accumulate", "2"], False),
    "uneven_shards": ([], False),
}


@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_example_trains_on_two_ranks_and_reports(tmp_path, name, mpiexec):
    if not os.path.isdir(MNIST):
        pytest.skip(f"MNIST not found at {MNIST} (set DISTGRAD_DATA)")
    cmd = [mpiexec, "-n", "2", sys.executable, str(REPO / "examples" / f"{name}.py"), "--epochs", "2",
           "--max-steps", "30", "--data-dir", MNIST, "--output", tmp_path, "--checkpoint-dir", tmp_path / "ckpt",
           *EXAMPLES[name][0]]
    job = run(cmd, 200, clean_environment())
    assert job.returncode == 0, job.output
    with open(tmp_path / f"{name}.json") as f:
        report = json.load(f)
    assert report["example"] == name and report["world_size"] == 2
    assert len(report["epochs"]) == 2
    assert report["final_test_accuracy"] > 0.5, report  # 60 steps from chance (0.1)
    assert [m["host_peak_rss_mb"] > 10 for m in report["peak_memory_per_rank"]] == [True, True]
    if EXAMPLES[name][1]:
        assert sorted(p.suffix for p in (tmp_path / "ckpt").iterdir()) == [".dgc", ".dgc"]
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / f"{name}.png").stat().st_size > 0
