"""examples/char_gpt.py as users run it: two ranks under mpiexec on tiny Shakespeare, a few
steps per epoch, then the validation loss per character, a generated sample, the metrics
JSON, the plot and the checkpoints; a resumed run continues from the last epoch."""
import importlib.util
import json
import math
import sys

import pytest

from jobs import REPO, clean_environment, run, tiny_shakespeare

@pytest.mark.timeout(90)
def test_char_gpt_trains_on_two_ranks_reports_and_resumes(tmp_path, mpiexec):
    text = tiny_shakespeare()
    cmd = [mpiexec, "-n", "2", sys.executable, str(REPO / "examples" / "char_gpt.py"), "--steps-per-epoch", "6",
           "--eval-batches", "2", "--batch-size", "16", "--n-embd", "64", "--sample-chars", "40",
           "--data-dir", text, "--output", tmp_path, "--checkpoint-dir", tmp_path / "ckpt"]
    job = run(cmd + ["--epochs", "2"], 60, clean_environment())
    assert job.returncode == 0, job.output
    with open(tmp_path / "char_gpt.json") as f:
        report = json.load(f)
    assert report["example"] == "char_gpt" and report["world_size"] == 2 and report["vocab_size"] == 65
    losses = [epoch["val_loss"] for epoch in report["epochs"]]
    assert len(losses) == 2 and losses[1] < report["uniform_loss"] == pytest.approx(math.log(65)), report
    assert len(report["sample"]) == 40 and "--- sample" in job.output
    assert sorted(p.suffix for p in (tmp_path / "ckpt").iterdir()) == [".dgc", ".dgc"]
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "char_gpt.png").stat().st_size > 0

    resumed = run(cmd + ["--epochs", "3", "--resume"], 60, clean_environment())
    assert resumed.returncode == 0, resumed.output
    assert "resumed from epoch 2" in resumed.output
    with open(tmp_path / "char_gpt.json") as f:
        assert [epoch["epoch"] for epoch in json.load(f)["epochs"]] == [3]
