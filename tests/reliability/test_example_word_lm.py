"""examples/word_lm.py as users run it: two ranks under mpiexec on tiny Shakespeare, a few
windows of each epoch, then the metrics JSON (loss and perplexity per word), the plot and
the checkpoints it promises."""
import importlib.util
import json
import math
import sys

import pytest

from jobs import REPO, clean_environment, run, tiny_shakespeare

@pytest.mark.timeout(90)
def test_word_lm_trains_on_two_ranks_and_reports(tmp_path, mpiexec):
    text = tiny_shakespeare()
    cmd = [mpiexec, "-n", "2", sys.executable, str(REPO / "examples" / "word_lm.py"), "--epochs", "2",
           "--max-steps", "6", "--nhid", "64", "--emsize", "64", "--data-dir", text, "--output", tmp_path,
           "--checkpoint-dir", tmp_path / "ckpt"]
    job = run(cmd, 60, clean_environment())
    assert job.returncode == 0, job.output
    with open(tmp_path / "word_lm.json") as f:
        report = json.load(f)
    assert report["example"] == "word_lm" and report["world_size"] == 2 and report["unit"] == "word"
    assert len(report["epochs"]) == 2
    vocabulary = report["vocabulary"]
    assert 1000 < vocabulary < 20000, report
    first, last = report["epochs"]
    # From about log(vocabulary) at the start, a few dozen SGD steps at lr 20 learn word frequencies.
    assert first["train_loss"] < math.log(vocabulary) + 1.0
    assert last["val_loss"] < math.log(vocabulary) - 0.5, report
    assert math.isclose(report["final_val_perplexity"], math.exp(last["val_loss"]), rel_tol=1e-9)
    assert sorted(p.suffix for p in (tmp_path / "ckpt").iterdir()) == [".dgc", ".dgc"]
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "word_lm.png").stat().st_size > 0
