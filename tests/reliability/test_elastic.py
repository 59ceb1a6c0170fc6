"""Elastic jobs: distgrad-run --max-restarts restarts a failed job on the ranks left, and the
job's elastic.State and ElasticSampler continue it so that each sample of each epoch is trained
on exactly once and at most one commit interval of work is lost per failure. Each job runs
scripts/elastic_train.py (synthetic data, 384 samples, 8 per rank per step) under a deadline.
The multi-host case uses test_multihost.py's network-namespace hosts (skipped without root)."""
import os
import random
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict

import pytest

from jobs import REPO, SCRIPTS, clean_environment, record, run, time_of
from test_multihost import NETNS_HOSTS, PREFIX, hosts  # noqa: F401 (hosts: the fixture)

pytestmark = pytest.mark.timeout(120)
COMMIT_EVERY, SAMPLES, EPOCHS = 4, 384, 3


def elastic_job(tmp_path, launcher_flags, faults, ranks=2, timeout=90):
    cmd = [sys.executable, "-m", "distgrad.run", "-n", str(ranks), *launcher_flags,
           str(SCRIPTS / "elastic_train.py"), "--epochs", str(EPOCHS), "--samples", str(SAMPLES),
           "--commit-every", str(COMMIT_EVERY), "--log-dir", str(tmp_path), *faults]
    return run(cmd, timeout, clean_environment(PYTHONPATH=REPO))


def attempts(output):
    """[(attempt, world size, step it resumed from), ...] from the ranks' first lines."""
    found = re.findall(r"\[elastic rank 0\] attempt (\d+): (\d+) rank\(s\), from epoch \d+ step (\d+)", output)
    return [tuple(map(int, a)) for a in found]


def check_each_sample_once(tmp_path, output, epochs):
    """Each sample of each epoch trained on exactly once, leaving out what failures lost."""
    resumed_from = {a: step for a, _, step in attempts(output)}
    seen = trained_samples(tmp_path, resumed_from)
    assert sorted(seen) == list(range(1, epochs + 1))
    for epoch, counts in seen.items():
        assert counts == Counter(range(SAMPLES)), f"epoch {epoch}: not every sample exactly once"


def trained_samples(tmp_path, resumed_from):
    """{epoch: Counter of samples} over every attempt, leaving out the steps each failure lost
    (those after the step the next attempt resumed from)."""
    seen = defaultdict(Counter)
    for log in tmp_path.glob("samples.a*.r*"):
        attempt = int(re.search(r"\.a(\d+)\.", log.name)[1])
        kept_until = resumed_from.get(attempt + 1, float("inf"))
        for line in log.read_text().splitlines():
            epoch, step, *indices = map(int, line.split())
            if step <= kept_until:
                seen[epoch].update(indices)
    return seen


def test_three_failures_the_job_finishes_by_itself_and_each_sample_is_used_once(tmp_path):
    # Attempt 0 (2 ranks): rank 1 raises at step 13: its host is fine, the job restarts on 2 ranks.
    # Attempt 1: rank 1 is SIGKILLed at step 41: lost, the job restarts on the 1 rank left,
    # which re-shards the rest of epoch 2. Attempt 2: rank 0 raises at step 75 (epoch 3).
    job = elastic_job(tmp_path, ["--max-restarts", "3", "--min-np", "1"],
                      ["--raise", "0:1:13", "--kill", "1:1:41", "--raise", "2:0:75"])
    assert job.returncode == 0, job.output
    assert len(job.lines(r"^distgrad-run: restart \d/3: ")) == 3, job.output
    assert job.lines(r"restart 1/3: rank 1 \(host \S+\) failed: raised RuntimeError; starting again with 2 rank"), \
        job.output
    # Named by the survivor's heartbeats (the rank) or by mpiexec (the host), whichever is first.
    assert job.lines(r"restart 2/3: (rank 1|a rank) \(host \S+\) lost: .*; starting again with 1 rank\(s\)$"), \
        job.output
    runs = attempts(job.output)
    assert [(a, w) for a, w, _ in runs] == [(0, 2), (1, 2), (2, 1), (3, 1)], job.output
    resumed_from = {a: step for a, _, step in runs}
    failed_at = {1: 13, 2: 41, 3: 75}  # the step each failure hit, by the attempt after it
    for attempt, step in failed_at.items():
        lost = step - 1 - resumed_from[attempt]
        assert 0 <= lost < COMMIT_EVERY, (attempt, resumed_from)

    check_each_sample_once(tmp_path, job.output, EPOCHS)
    # The step counter and the learning-rate schedule continued: 24 steps an epoch on 2 ranks,
    # 48 on one; StepLR(step_size=10, gamma=0.9) from lr 0.05.
    last = int(re.search(r"done: epoch 3, step (\d+)", job.output)[1])
    assert last == 24 + 16 + 16 + 48  # epoch 1, 16 steps of epoch 2 on 2 ranks, the rest on 1
    assert f"lr {0.05 * 0.9 ** (last // 10):.6g}" in job.output

    kill = time_of(job.output, r"fault kill at step 41")
    again = time_of(job.output.split("fault kill at step 41", 1)[1], r"training at step")
    record("SIGKILLed rank (2 ranks -> 1): from the kill to training again", again - kill)


def test_fewer_ranks_than_min_np_left_ends_the_job_without_a_restart(tmp_path):
    job = elastic_job(tmp_path, ["--max-restarts", "3", "--min-np", "2"], ["--kill", "0:1:5"], timeout=60)
    assert job.returncode != 0
    assert job.lines(r"^distgrad-run: failed \((rank 1|a rank) \(host \S+\) lost: .*\); 1 rank\(s\) left, fewer than "
                     r"--min-np 2: not restarting$"), job.output
    assert [a for a, _, _ in attempts(job.output)] == [0]


DISCOVERY = """#!/bin/sh
# First restart: hosts 1 and 2 (host 2, just lost, sits it out); later: hosts 1 and 3.
if [ -e "{calls}" ]; then printf '{prefix}host1:1\\n{prefix}host3:1\\n'
else touch "{calls}"; printf '{prefix}host1:1\\n{prefix}host2:1\\n'; fi
"""


@pytest.mark.timeout(150)
def test_a_host_cut_off_the_job_goes_on_with_fewer_ranks_and_a_discovered_host_joins_later(hosts, tmp_path):
    h = hosts(3)  # namespaces host1..3; the job starts on hosts 1 and 2
    discover = tmp_path / "discover.sh"
    discover.write_text(DISCOVERY.format(calls=tmp_path / "called", prefix=PREFIX))
    discover.chmod(0o755)
    samples = tmp_path / "samples"
    samples.mkdir()
    cmd = ["bash", str(NETNS_HOSTS), "run", "--prefix", PREFIX, "-n", "2", "--", "--python", sys.executable,
           "--max-restarts", "2", "--min-np", "1", "--host-discovery-script", str(discover),
           str(SCRIPTS / "elastic_train.py"), "--epochs", "2", "--samples", str(SAMPLES),
           "--commit-every", str(COMMIT_EVERY), "--log-dir", str(samples), "--step-seconds", "0.05",
           "--raise", "1:0:30"]  # attempt 1 (host 1 alone) fails at step 30: the next restart adds host 3
    job = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
                           stdin=subprocess.DEVNULL, start_new_session=True,
                           env=clean_environment(PYTHON=sys.executable, DISTGRAD_PEER_TIMEOUT=3))
    h.job = job  # the fixture kills it, should the test fail
    first = samples / "samples.a0.r0"
    h.wait_for(lambda: first.exists() and len(first.read_text().splitlines()) >= 8, 60, "8 steps on 2 hosts")
    h.cut(2)
    cut_at = time.time()
    output, _ = job.communicate(timeout=120)
    assert job.returncode == 0, output
    assert re.search(rf"restart 1/2: rank 1 \(host {PREFIX}host2\) lost: .*; starting again with 1 rank\(s\) "
                     rf"on {PREFIX}host1:1$", output, re.M), output
    # A world of one prints no rank prefix: MPICH's MPI_Abort line names the rank.
    assert re.search(rf"restart 2/2: rank 0 .*failed: .*; starting again with 2 rank\(s\) on "
                     rf"{PREFIX}host1:1,{PREFIX}host3:1$", output, re.M), output
    assert [(a, w) for a, w, _ in attempts(output)] == [(0, 2), (1, 1), (2, 2)], output
    check_each_sample_once(samples, output, 2)
    record("host cut off (2 namespace hosts -> 1, peer timeout 3 s): from the cut to training again",
           time_of(output.split("attempt 1:", 1)[1], r"training at step") - cut_at)


def test_keep_global_batch_the_rank_left_accumulates_two_batches_per_step(tmp_path):
    # Rank 1 is SIGKILLed at step 30 (epoch 2): the job restarts on one rank, which takes two
    # batches of 8 per step (no_sync for the first), so a step still trains on 16 samples and an
    # epoch still has 24 steps; the rest of epoch 2 is re-sharded, each sample used once.
    job = elastic_job(tmp_path, ["--max-restarts", "1", "--min-np", "1"], ["--kill", "0:1:30", "--keep-global-batch"])
    assert job.returncode == 0, job.output
    runs = attempts(job.output)
    assert [(a, w) for a, w, _ in runs] == [(0, 2), (1, 1)], job.output
    assert job.lines(r"\[elastic rank 0\] attempt 0: .* 1 batch\(es\) per step$"), job.output
    assert job.lines(r"\[elastic rank 0\] attempt 1: .* 2 batch\(es\) per step$"), job.output
    resumed = runs[1][2]
    assert 0 <= 29 - resumed < COMMIT_EVERY
    check_each_sample_once(tmp_path, job.output, EPOCHS)
    after = [line.split() for line in (tmp_path / "samples.a1.r0").read_text().splitlines()]
    assert after and all(len(fields) - 2 == 16 for fields in after[:-1])  # 2 x 8 per step (the last may be short)
    assert int(re.search(r"done: epoch 3, step (\d+)", job.output)[1]) == 3 * SAMPLES // 16


MNIST = os.environ.get("DISTGRAD_DATA", "/work/shared/datasets/mnist")
MNIST_EPOCHS = int(os.environ.get("DISTGRAD_ELASTIC_MNIST_EPOCHS", "8"))


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(not os.path.exists(os.path.join(MNIST, "train-images-idx3-ubyte.gz")),
                    reason=f"no MNIST in {MNIST} (DISTGRAD_DATA)")
def test_mnist_three_sigkills_at_random_steps_the_job_finishes_and_keeps_its_accuracy(tmp_path):
    # The seed MLP (lr 0.01, momentum 0.9) on MNIST, global batch 128 kept by accumulation.
    # distgrad-run counts a SIGKILLed rank on one machine as a lost slot, so three kills need
    # four ranks to start with: 4 -> 3 -> 2 -> 1. 8 epochs: about a minute on 2 busy cores.
    epochs, rng = MNIST_EPOCHS, random.Random(int(os.environ.get("DISTGRAD_ELASTIC_SEED", "15")))
    steps = sorted(rng.sample(range(50, 313 * epochs - 50), 3))  # 313 steps an epoch at the fewest (3 ranks)
    kills = [f"{attempt}:{rng.randrange(4 - attempt)}:{step}" for attempt, step in enumerate(steps)]
    cmd = [sys.executable, "-m", "distgrad.run", "-n", "4", "--max-restarts", "3", "--min-np", "1",
           str(SCRIPTS / "elastic_train.py"), "--mnist", MNIST, "--epochs", str(epochs), "--batch", "32",
           "--lr", "0.01", "--keep-global-batch", "--commit-every", "10", "--log-dir", str(tmp_path),
           *[arg for kill in kills for arg in ("--kill", kill)]]
    job = run(cmd, 280, clean_environment(PYTHONPATH=REPO))
    print("kills (attempt:rank:step):", kills)
    assert job.returncode == 0, job.output
    runs = attempts(job.output)
    assert [(a, w) for a, w, _ in runs] == [(0, 4), (1, 3), (2, 2), (3, 1)], job.output
    for attempt, step in enumerate(steps, start=1):
        assert 0 <= step - 1 - runs[attempt][2] < 10, (kills, runs)  # lost work: under one commit interval
    resumed_from = {a: step for a, _, step in runs}
    seen = trained_samples(tmp_path, resumed_from)
    assert sorted(seen) == list(range(1, epochs + 1))
    for epoch, counts in seen.items():
        # Each sample at least once; a re-shard on 3 ranks pads its rest as DistributedSampler does.
        assert set(counts) == set(range(60000)) and sum(counts.values()) - 60000 <= 3, epoch  # 2 + 1
    accuracy = float(re.search(r"test accuracy ([\d.]+)%", job.output)[1])
    record(f"MNIST, {epochs} epochs, 3 SIGKILLs at steps {steps}: test accuracy", accuracy, unit="%")
    assert accuracy >= 97.5
