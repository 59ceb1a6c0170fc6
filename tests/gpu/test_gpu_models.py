"""Whole models train on the GPU as on the CPU (float32, same weights and batches): the GPT of
examples/char_gpt.py (benchmarks/gpt_step.py's model: embeddings, causal attention, GELU MLP,
LayerNorm, AdamW) and the LSTM word language model of benchmarks/lstm_lm.py (embedding,
2-layer LSTM with truncated BPTT, clip_grad_norm_, SGD): the losses of a few steps agree."""
import copy

import numpy as np

import distgrad as dg
from benchmarks.gpt_step import gpt_class
from benchmarks.lstm_lm import build as lstm_lm
from gpu_support import GPU_ONLY

pytestmark = GPU_ONLY

STEPS = 4


def gpt_losses(model, tokens, device):
    model = model.to(device)
    opt = dg.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.1)
    x, y = (dg.tensor(t, device=device) for t in (tokens[:, :-1], tokens[:, 1:]))
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        logits = model(x)
        loss = dg.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), y.reshape(-1))
        loss.backward()
        opt.step()
        assert loss.is_cuda == (device == "cuda")
        losses.append(loss.item())
    return np.array(losses)


def test_gpt_on_gpu_follows_its_cpu_losses():
    dg.manual_seed(0)
    model = gpt_class(dg)(vocab_size=96, block_size=16, n_layer=2, n_embd=32, n_head=4, dropout=0.0)
    tokens = np.random.default_rng(0).integers(0, 96, (4, 17))
    cpu = gpt_losses(copy.deepcopy(model), tokens, "cpu")
    gpu = gpt_losses(model, tokens, "cuda")
    assert cpu[-1] < cpu[0]  # it learns the batch: the comparison is of a moving trajectory
    np.testing.assert_allclose(gpu, cpu, rtol=1e-4)


def test_lstm_language_model_on_gpu_follows_its_cpu_losses():
    cpu_step, gpu_step = lstm_lm("distgrad", vocab=100), lstm_lm("distgrad", vocab=100, device="cuda")
    cpu, gpu = [], []
    for _ in range(STEPS):
        cpu.append(cpu_step().item())
        loss = gpu_step()
        assert loss.is_cuda
        gpu.append(loss.item())
    assert cpu[-1] < cpu[0]
    np.testing.assert_allclose(gpu, cpu, rtol=1e-4)
