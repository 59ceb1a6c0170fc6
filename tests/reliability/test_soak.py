"""Soak: 2 and 3 ranks train for a few thousand steps (tiny model, synthetic data) with a
checkpoint every epoch (every 256 or 171 steps). After warm-up each rank's resident memory
stays flat (a small slack), its open file descriptors and threads stay the same, and no
temporary file is left (the job gets a private TMPDIR; the checkpoint folder holds only the
newest checkpoints). Marked slow; bounded to well under a minute on 2 cores."""
import json

import pytest

from jobs import record, run_job

EPOCHS = 20                  # 5120 steps on 2 ranks, 3420 on 3
# First epochs and checkpoints: caches, allocator pools, MPI buffers, and the heartbeat links,
# which on a loaded machine can take a second or two to settle (retried connections: a
# descriptor more or less until then; a leak still shows over the thousands of steps after).
WARM_UP_STEPS = 1500
RSS_SLACK = 2 * 1024 * 1024  # bytes a rank may grow after warm-up (measured: under 0.1 MiB)


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("ranks", [2, 3])
def test_memory_descriptors_and_files_stay_flat_over_thousands_of_steps(tmp_path, ranks, mpiexec):
    private_tmp, ckpt_dir = tmp_path / "tmp", tmp_path / "ckpt"
    private_tmp.mkdir()
    job = run_job(mpiexec, "--samples", 4096, "--batch", 8, "--epochs", EPOCHS, "--checkpoint-dir", ckpt_dir,
                  "--resources", tmp_path / "resources", "--sample-every", 100, ranks=ranks, timeout=180,
                  env={"TMPDIR": private_tmp})
    assert job.returncode == 0, job.output
    steps = EPOCHS * (4096 // ranks // 8 + (1 if 4096 // ranks % 8 else 0))
    assert job.output.count(f"done: {steps} steps") == ranks, job.output
    record(f"soak, {ranks} ranks: steps per second", steps / job.seconds, "")
    for r in range(ranks):
        with open(tmp_path / f"resources.rank{r}.json") as f:
            report = json.load(f)
        after = [s for s in report["samples"] if s["step"] >= WARM_UP_STEPS] + [report["end"]]
        assert len(after) > 10
        growth = max(s["rss"] for s in after) - after[0]["rss"]
        record(f"soak, {ranks} ranks: rank {r} RSS growth after warm-up", growth / 1024, "KiB")
        assert growth < RSS_SLACK, [s["rss"] for s in after]
        # A leak grows; a heartbeat connection retried during warm-up on a loaded machine may
        # still close a descriptor later (seen: 35 -> 34), which is no leak.
        assert max(s["fds"] for s in after) <= after[0]["fds"], after
        assert {s["threads"] for s in after} == {2}, after  # the main thread and the heartbeats
    assert list(private_tmp.iterdir()) == []
    assert sorted(p.name for p in ckpt_dir.iterdir()) == [
        f"checkpoint-{EPOCHS - 1:04d}-{(EPOCHS - 1) * steps // EPOCHS:08d}.dgc",
        f"checkpoint-{EPOCHS:04d}-{steps:08d}.dgc"]
