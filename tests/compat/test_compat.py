"""The compatibility suite: complete PyTorch training programs (programs/), each run under
PyTorch and, with only its imports rewritten, under distgrad, from the same weights and the
same random draws (compat_harness.py); the losses they print must agree."""
import importlib.util
import math
import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field

import numpy as np
import pytest

from compat_harness import PROGRAMS, losses, run, source_of, torch_checkpoint_to_distgrad

DATASETS = os.environ.get("DISTGRAD_DATASETS", os.path.join(os.path.dirname(__file__), "../../../shared/datasets"))
MNIST = os.path.join(DATASETS, "mnist")
WIKITEXT = os.path.join(DATASETS, "wikitext-2-head", "train.txt")
SHAKESPEARE = os.path.join(DATASETS, "tinyshakespeare", "input.txt")


@dataclass
class Case:
    program: str
    args: list = field(default_factory=list)
    rtol: float = 1e-4          # float32 programs: rounding differs, and grows with the steps
    atol: float = 1e-5
    missing: str = ""           # a layer distgrad lacks: strict xfail until it lands

    def param(self):
        marks = [pytest.mark.xfail(strict=True, reason=self.missing)] if self.missing else []
        return pytest.param(self, id=self.program[:-3], marks=marks)


CASES = [
    Case("mnist_cnn.py", ["--data-dir", MNIST, "--steps", 8, "--dropout", 0]),
    Case("vae.py", ["--data-dir", MNIST, "--steps", 8]),
    Case("regression.py", ["--steps", 20]),
    Case("custom_function.py", ["--steps", 40]),
    Case("nn_module_tutorial.py", ["--steps", 30]),
    Case("time_series_lstm.py", ["--steps", 6, "--dropout", 0]),
    Case("word_lm_lstm.py", ["--data", WIKITEXT, "--steps", 6, "--dropout", 0]),
    Case("transformer_lm.py", ["--input", SHAKESPEARE, "--steps", 8, "--dropout", 0]),
    Case("gan.py", ["--steps", 15]),
    Case("resnet_cnn.py", ["--data-dir", MNIST, "--steps", 6, "--resume-check", "{tmp}/resume.pt"]),
    Case("lbfgs_fit.py", ["--steps", 4], rtol=1e-7, atol=1e-10),  # float64
    Case("seq2seq_gru.py", ["--steps", 10]),
    Case("conv_autoencoder.py", ["--data-dir", MNIST, "--steps", 6]),
]


def _args(case, tmp_path):
    return [str(a).replace("{tmp}", str(tmp_path)) for a in case.args]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_program_trains_as_under_pytorch(case, tmp_path):
    args = _args(case, tmp_path)
    if importlib.util.find_spec("torch") is None:  # nothing to compare with: it must still run and train
        ours = losses(run(case.program, "distgrad", args))
        assert len(ours) >= 2 and all(math.isfinite(v) for v in ours), ours
        return
    torch_init, our_init = tmp_path / "init.pt", tmp_path / "init.distgrad"
    run(case.program, "torch", args + ["--steps", 0, "--save-model", torch_init])
    torch_checkpoint_to_distgrad(torch_init, our_init)
    theirs = losses(run(case.program, "torch", args + ["--init", torch_init]))
    ours = losses(run(case.program, "distgrad", args + ["--init", our_init]))
    assert len(theirs) >= 2 and len(ours) == len(theirs), (ours, theirs)
    np.testing.assert_allclose(ours, theirs, rtol=case.rtol, atol=case.atol)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(150)
def test_torchrun_script_on_two_ranks_trains_as_one_pytorch_process_of_twice_the_batch(tmp_path, mpiexec):
    """Under torch: one process (torchrun's variables for a world of one), batch 2b. Under
    distgrad-run -n 2: two ranks of batch b, each a half of every batch (DistributedSampler
    without shuffling), averaged by DDP: the same steps."""
    pytest.importorskip("torch")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "MPI_", "PMIX_"))}
    env.update(OMP_NUM_THREADS="1", DISTGRAD_LIVENESS="0")
    torch_env = dict(env, RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", LOCAL_WORLD_SIZE="1",
                     MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()))
    program = tmp_path / "ddp_torchrun.py"
    program.write_text(source_of("ddp_torchrun.py", "torch"))
    ported = tmp_path / "ddp_torchrun_distgrad.py"
    ported.write_text(source_of("ddp_torchrun.py", "distgrad"))

    def launch(argv, environ):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=environ, cwd=tmp_path,
                              stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    torch_init, our_init = tmp_path / "init.pt", tmp_path / "init.distgrad"
    launch([sys.executable, str(program), "--steps", "0", "--save-model", str(torch_init)], torch_env)
    torch_checkpoint_to_distgrad(torch_init, our_init)
    theirs = losses(launch([sys.executable, str(program), "--steps", "6", "--batch-size", "16",
                            "--init", str(torch_init)], torch_env))
    ours = losses(launch([sys.executable, "-m", "distgrad.run", "-n", "2", str(ported), "--steps", "6",
                          "--batch-size", "8", "--init", str(our_init)], env))
    assert len(theirs) == 6 and len(ours) == 6, (ours, theirs)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_the_programs_are_pytorch_code_and_only_imports_change():
    for path in sorted(PROGRAMS.glob("*.py")):
        text = path.read_text()
        assert "distgrad" not in text, path.name
        ported = source_of(path.name, "distgrad")
        changed = [(a, b) for a, b in zip(text.splitlines(), ported.splitlines()) if a != b]
        assert changed and all(a.lstrip().startswith(("import torch", "from torch")) for a, _ in changed), path.name
    assert len(list(PROGRAMS.glob("*.py"))) >= 12
