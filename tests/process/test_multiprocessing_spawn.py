"""distgrad.multiprocessing.spawn as torch.multiprocessing.spawn: a DDP tutorial's
``mp.spawn(main, args=(world_size,), nprocs=world_size)`` starts MPI ranks that each call
main(rank, world_size); an exception in one rank is raised in the parent with its traceback."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

DDP_TUTORIAL = """
    import json, os, sys
    import numpy as np
    import distgrad as torch
    import distgrad.distributed as dist
    import distgrad.multiprocessing as mp
    import distgrad.nn as nn
    from distgrad.nn.parallel import DistributedDataParallel as DDP

    print("parent once")  # the ranks import this file as __mp_main__: this line runs in each, the block below does not

    def main(rank, world_size, out, fail_rank):
        dist.init_process_group("gloo", rank=rank, world_size=world_size)
        assert (dist.get_rank(), dist.get_world_size()) == (rank, world_size)
        if rank == fail_rank:
            raise ValueError(f"rank {rank} gives up")
        torch.manual_seed(0)
        model = DDP(nn.Linear(3, 2).double())
        rng = np.random.default_rng(1)
        x, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
        share = slice(rank * 4 // world_size, (rank + 1) * 4 // world_size)
        loss = ((model(torch.tensor(x[share])) - torch.tensor(y[share])) ** 2).mean()
        loss.backward()
        with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
            json.dump({"grad": model.module.weight.grad.tolist(), "weight": model.module.weight.tolist(),
                       "bias": model.module.bias.tolist(),
                       "master": [os.environ.get("MASTER_ADDR"), os.environ.get("MASTER_PORT")]}, f)
        dist.destroy_process_group()

    if __name__ == "__main__":
        world_size, out, fail_rank = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
        if len(sys.argv) > 4:
            os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "localhost", "12355"
        try:
            mp.spawn(main, args=(world_size, out, fail_rank), nprocs=world_size, join=True)
        except mp.ProcessRaisedException as e:
            print("RAISED", e.error_index, json.dumps(str(e)))
            sys.exit(3)
        print("parent done")
"""


def _run(tmp_path, job_env, world_size, fail_rank=-1, master=False):
    script = tmp_path / "ddp_tutorial.py"
    script.write_text(textwrap.dedent(DDP_TUTORIAL))
    argv = [sys.executable, str(script), str(world_size), str(tmp_path), str(fail_rank)] + (["m"] if master else [])
    return subprocess.run(argv, capture_output=True, text=True, timeout=100, cwd=tmp_path,
                          env=dict(job_env, DISTGRAD_LIVENESS="0"), stdin=subprocess.DEVNULL)


@pytest.mark.timeout(120)
def test_two_ranks_take_a_ddp_step_with_equal_gradients(tmp_path, job_env, mpiexec):
    done = _run(tmp_path, job_env, 2, master=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("parent once") == 3 and done.stdout.count("parent done") == 1
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert ranks[0]["grad"] == ranks[1]["grad"]  # averaged by DDP: bit-identical
    assert ranks[0]["weight"] == ranks[1]["weight"]  # rank 0's initial weights broadcast
    assert ranks[0]["master"] == ["localhost", "12355"]  # the parent's rendezvous address, as set
    # the average of the two half-batch gradients is the full batch's
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    w, b = np.array(ranks[0]["weight"]), np.array(ranks[0]["bias"])
    full = 2 * (x @ w.T + b - y).T @ x / y.size
    np.testing.assert_allclose(ranks[0]["grad"], full, rtol=1e-12, atol=1e-14)


@pytest.mark.timeout(120)
def test_an_exception_in_one_rank_is_raised_in_the_parent_with_its_traceback(tmp_path, job_env, mpiexec):
    done = _run(tmp_path, job_env, 2, fail_rank=1)
    assert done.returncode == 3, done.stdout + done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("RAISED"))
    index, message = line.split(" ", 2)[1:]
    message = json.loads(message)
    assert index == "1"
    assert "-- Process 1 terminated with the following error:" in message
    assert "ValueError: rank 1 gives up" in message and "Traceback" in message
    assert not (tmp_path / "rank0.json").exists()  # the other rank was ended, not left waiting


@pytest.mark.timeout(90)
def test_a_single_process_spawn(tmp_path, job_env):
    done = _run(tmp_path, job_env, 1)
    assert done.returncode == 0, done.stdout + done.stderr
    rank0 = json.loads((tmp_path / "rank0.json").read_text())
    assert rank0["master"] == ["127.0.0.1", "29500"]  # torchrun's defaults when the script sets none
    assert done.stdout.count("parent done") == 1


def test_python_multiprocessing_names_are_there_and_bad_arguments_raise():
    import multiprocessing

    import distgrad.multiprocessing as mp
    assert mp.Process is multiprocessing.Process and mp.Queue is multiprocessing.Queue
    assert mp.cpu_count() == multiprocessing.cpu_count()
    with pytest.raises(ValueError, match="nprocs"):
        mp.spawn(print, nprocs=0)
    with pytest.raises(ValueError, match="start_method"):
        mp.spawn(print, start_method="thread")


def test_the_parent_names_the_rank_that_failed_first_not_one_ended_by_it(tmp_path):
    """File times are too coarse to order two ranks' failures; the first claims its place."""
    from distgrad.multiprocessing import _child
    from distgrad.multiprocessing.spawn import ProcessContext, ProcessRaisedException, error_file
    _child._report(str(tmp_path), 1, "Traceback ...\nValueError: rank 1 gives up\n")
    _child._report(str(tmp_path), 0, "Traceback ...\nRuntimeError: peer 1 is gone\n")
    os.utime(error_file(str(tmp_path), 0), (0, 0))  # the consequence looks older on disk
    failure = ProcessContext(subprocess.Popen([sys.executable, "-c", ""]), str(tmp_path), 2)._failure(1)
    assert isinstance(failure, ProcessRaisedException) and failure.error_index == 1
    assert "rank 1 gives up" in str(failure) and not (tmp_path / "error-1.txt.partial").exists()
