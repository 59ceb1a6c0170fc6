"""Elastic jobs: distgrad-run --max-restarts restarts a failed job (at its size while its hosts
are alive, as torchrun does; on what a discovery script lists, or without a lost host), and the
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
    (those after the step the next attempt that trained resumed from)."""
    seen = defaultdict(Counter)
    for log in tmp_path.glob("samples.a*.r*"):
        attempt = int(re.search(r"\.a(\d+)\.", log.name)[1])
        kept_until = min((step for a, step in resumed_from.items() if a > attempt), default=float("inf"))
        for line in log.read_text().splitlines():
            epoch, step, *indices = map(int, line.split())
            if step <= kept_until:
                seen[epoch].update(indices)
    return seen


def slots_script(tmp_path, slots):
    """A discovery script listing this machine with ``slots[k]`` slots at its k-th call (the last
    repeats): a one-machine stand-in for slots that a scheduler takes away and gives back."""
    script, calls = tmp_path / "slots.sh", tmp_path / "slots.calls"
    cases = "".join(f"  {k}) echo localhost:{n} ;;\n" for k, n in enumerate(slots[:-1]))
    script.write_text(f"#!/bin/sh\nk=$(cat {calls} 2>/dev/null || echo 0)\necho $((k + 1)) > {calls}\n"
                      f"case $k in\n{cases}  *) echo localhost:{slots[-1]} ;;\nesac\n")
    script.chmod(0o755)
    return ["--host-discovery-script", str(script)]


def check_lost_work(runs, failed_at):
    """At most one commit interval lost per failure: ``failed_at`` is {attempt after it: step}."""
    resumed_from = {a: step for a, _, step in runs}
    for attempt, step in failed_at.items():
        assert 0 <= step - 1 - resumed_from[attempt] < COMMIT_EVERY, (attempt, resumed_from)


def test_three_failures_the_job_restarts_at_its_size_and_each_sample_is_used_once(tmp_path):
    # The host is alive through all three, so every restart is on 2 ranks again (torchrun's way):
    # rank 1 raises at step 13; rank 1 is SIGKILLed at step 41; rank 0 raises at step 60.
    job = elastic_job(tmp_path, ["--max-restarts", "3", "--min-np", "1"],
                      ["--raise", "0:1:13", "--kill", "1:1:41", "--raise", "2:0:60"])
    assert job.returncode == 0, job.output
    assert len(job.lines(r"^distgrad-run: restart \d/3: ")) == 3, job.output
    assert job.lines(r"restart 1/3: rank 1 \(host \S+\) failed: raised RuntimeError; starting again with 2 rank"), \
        job.output
    # Named by the survivor's heartbeats (the rank) or by mpiexec (the host), whichever is first.
    assert job.lines(r"restart 2/3: (rank 1|a rank) \(host \S+\) lost: .*; starting again with 2 rank\(s\)$"), \
        job.output
    runs = attempts(job.output)
    assert [(a, w) for a, w, _ in runs] == [(0, 2), (1, 2), (2, 2), (3, 2)], job.output
    check_lost_work(runs, {1: 13, 2: 41, 3: 60})
    check_each_sample_once(tmp_path, job.output, EPOCHS)
    # The step counter and the learning-rate schedule continued: 24 steps an epoch on 2 ranks;
    # StepLR(step_size=10, gamma=0.9) from lr 0.05.
    last = int(re.search(r"done: epoch 3, step (\d+)", job.output)[1])
    assert last == 3 * 24
    assert f"lr {0.05 * 0.9 ** (last // 10):.6g}" in job.output

    kill = time_of(job.output, r"fault kill at step 41")
    again = time_of(job.output.split("fault kill at step 41", 1)[1], r"training at step")
    record("SIGKILLed rank (2 ranks, restarted on 2): from the kill to training again", again - kill)


def test_a_slot_taken_away_the_rest_of_the_epoch_is_resharded_over_the_rank_left(tmp_path):
    # The discovery script lists 2 slots, then 1 after rank 1 is SIGKILLed at step 41 (the last
    # commit was at step 40): the one rank left trains the rest of epoch 2 in steps of 8 samples.
    job = elastic_job(tmp_path, ["--max-restarts", "1", "--min-np", "1", *slots_script(tmp_path, [2, 1])],
                      ["--kill", "0:1:41"])
    assert job.returncode == 0, job.output
    assert job.lines(r"restart 1/1: (rank 1|a rank) \(host \S+\) lost: .*; starting again with 1 rank\(s\) "
                     r"on localhost:1$"), job.output
    runs = attempts(job.output)
    assert runs == [(0, 2, 0), (1, 1, 40)], job.output
    check_each_sample_once(tmp_path, job.output, EPOCHS)
    last = int(re.search(r"done: epoch 3, step (\d+)", job.output)[1])
    assert last == 24 + 16 + 16 + 48  # epoch 1, 16 steps of epoch 2 on 2 ranks, the rest on 1
    assert f"lr {0.05 * 0.9 ** (last // 10):.6g}" in job.output


def test_a_rank_killed_while_restoring_the_next_attempt_restores_the_same_commit(tmp_path):
    # Rank 1 is SIGKILLed at step 30, then again inside attempt 1's restore: attempt 2 restores
    # the commit attempt 1 was restoring (a restore only reads), and the job finishes.
    job = elastic_job(tmp_path, ["--max-restarts", "2", "--min-np", "1"],
                      ["--kill", "0:1:30", "--kill-in-restore", "1:1"])
    assert job.returncode == 0, job.output
    assert job.lines(r"\[elastic rank 1\] fault kill in restore"), job.output
    assert len(job.lines(r"^distgrad-run: restart \d/2: ")) == 2, job.output
    runs = attempts(job.output)
    assert [(a, w) for a, w, _ in runs] == [(0, 2), (2, 2)], job.output  # attempt 1 never trained
    assert runs[1][2] == 28  # the last commit before step 30 (every 4 steps)
    check_each_sample_once(tmp_path, job.output, EPOCHS)


def test_fewer_slots_than_min_np_ends_the_job_without_a_restart(tmp_path):
    job = elastic_job(tmp_path, ["--max-restarts", "3", "--min-np", "2", *slots_script(tmp_path, [2, 1])],
                      ["--kill", "0:1:5"], timeout=60)
    assert job.returncode != 0
    assert job.lines(r"^distgrad-run: the discovery script lists 1 usable slot\(s\), fewer than --min-np 2$"), \
        job.output
    assert job.lines(r"^distgrad-run: failed \((rank 1|a rank) \(host \S+\) lost: .*\); not restarting$"), job.output
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


def test_keep_global_batch_steps_keep_their_size_as_slots_go_and_come_back(tmp_path):
    # Slots 2, then 1 after rank 1 is SIGKILLed at step 30, then 2 again after rank 0 raises at
    # step 50: on one rank each step takes two batches of 8 (no_sync for the first), so a step
    # always trains on 16 samples and an epoch always has 24 steps; each re-shard uses each
    # sample once.
    job = elastic_job(tmp_path, ["--max-restarts", "2", "--min-np", "1", *slots_script(tmp_path, [2, 1, 2])],
                      ["--kill", "0:1:30", "--raise", "1:0:50", "--keep-global-batch"])
    assert job.returncode == 0, job.output
    runs = attempts(job.output)
    assert [(a, w) for a, w, _ in runs] == [(0, 2), (1, 1), (2, 2)], job.output
    for attempt, per_step in enumerate((1, 2, 1)):
        assert job.lines(rf"\[elastic rank 0\] attempt {attempt}: .* {per_step} batch\(es\) per step$"), job.output
    check_lost_work(runs, {1: 30, 2: 50})
    check_each_sample_once(tmp_path, job.output, EPOCHS)
    alone = [line.split() for line in (tmp_path / "samples.a1.r0").read_text().splitlines()]
    assert alone and all(len(fields) - 2 == 16 for fields in alone)  # 2 x 8 per step, on one rank
    assert int(re.search(r"done: epoch 3, step (\d+)", job.output)[1]) == 3 * SAMPLES // 16


MNIST = os.environ.get("DISTGRAD_DATA", "/work/shared/datasets/mnist")
MNIST_EPOCHS = int(os.environ.get("DISTGRAD_ELASTIC_MNIST_EPOCHS", "8"))


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(not os.path.exists(os.path.join(MNIST, "train-images-idx3-ubyte.gz")),
                    reason=f"no MNIST in {MNIST} (DISTGRAD_DATA)")
def test_mnist_three_sigkills_at_random_steps_the_job_finishes_and_keeps_its_accuracy(tmp_path):
    # The seed MLP (lr 0.01, momentum 0.9, batch 64 a rank) on MNIST, 2 ranks, a rank SIGKILLed
    # at three random steps: its host is alive, so each restart is on 2 ranks again.
    epochs, rng = MNIST_EPOCHS, random.Random(int(os.environ.get("DISTGRAD_ELASTIC_SEED", "15")))
    steps = sorted(rng.sample(range(50, 469 * epochs - 50), 3))  # 469 steps an epoch
    kills = [f"{attempt}:{rng.randrange(2)}:{step}" for attempt, step in enumerate(steps)]
    cmd = [sys.executable, "-m", "distgrad.run", "-n", "2", "--max-restarts", "3", "--min-np", "1",
           str(SCRIPTS / "elastic_train.py"), "--mnist", MNIST, "--epochs", str(epochs), "--batch", "64",
           "--lr", "0.01", "--commit-every", "10", "--log-dir", str(tmp_path),
           *[arg for kill in kills for arg in ("--kill", kill)]]
    job = run(cmd, 280, clean_environment(PYTHONPATH=REPO))
    print("kills (attempt:rank:step):", kills)
    assert job.returncode == 0, job.output
    runs = attempts(job.output)
    assert [(a, w) for a, w, _ in runs] == [(0, 2), (1, 2), (2, 2), (3, 2)], job.output
    for attempt, step in enumerate(steps, start=1):
        assert 0 <= step - 1 - runs[attempt][2] < 10, (kills, runs)  # lost work: under one commit interval
    resumed_from = {a: step for a, _, step in runs}
    seen = trained_samples(tmp_path, resumed_from)
    assert sorted(seen) == list(range(1, epochs + 1))
    for epoch, counts in seen.items():
        assert counts == Counter(range(60000)), f"epoch {epoch}: not every sample exactly once"
    accuracy = float(re.search(r"test accuracy ([\d.]+)%", job.output)[1])
    record(f"MNIST, {epochs} epochs, 3 SIGKILLs at steps {steps}: test accuracy", accuracy, unit="%")
    assert accuracy >= 97.5
