"""Activation checkpointing (distgrad.utils.checkpoint.checkpoint / checkpoint_sequential):
gradients bit-identical to the run without it, dropout included; and its memory saving."""
import numpy as np
import pytest

import distgrad
import distgrad.nn as nn
from distgrad import memory
from distgrad.utils.checkpoint import checkpoint, checkpoint_sequential


def _mlp(blocks=4, width=16, p=0.0, seed=0):
    distgrad.manual_seed(seed)
    layers = []
    for _ in range(blocks):
        layers += [nn.Linear(width, width), nn.Tanh()] + ([nn.Dropout(p)] if p else [])
    return nn.Sequential(*layers).double()


def _grads(model, x, run):
    model.zero_grad()
    x = x.detach().clone()
    x.requires_grad = True
    distgrad.manual_seed(123)
    out = run(model, x)
    (out * out).sum().backward()
    return out.detach().numpy().copy(), x.grad.numpy().copy(), [p.grad.numpy().copy() for p in model.parameters()]


def _same(a, b):
    out_a, xg_a, pg_a = a
    out_b, xg_b, pg_b = b
    assert np.array_equal(out_a, out_b)
    assert np.array_equal(xg_a, xg_b)
    assert all(np.array_equal(g, h) for g, h in zip(pg_a, pg_b))


def _input(width=16):
    return distgrad.tensor(np.random.default_rng(1).normal(size=(8, width)))


@pytest.mark.parametrize("reentrant", [False, True])
@pytest.mark.parametrize("p", [0.0, 0.3])
def test_checkpointed_blocks_give_the_same_gradients_bit_for_bit(reentrant, p):
    model = _mlp(p=p)
    blocks = [model[i:i + 3 if p else i + 2] for i in range(0, len(model), 3 if p else 2)]
    plain = _grads(model, _input(), lambda m, x: m(x))

    def run(m, x):
        for block in blocks:
            x = checkpoint(block, x, use_reentrant=reentrant)
        return x

    _same(plain, _grads(model, _input(), run))


def test_dropout_recomputes_the_same_mask_and_leaves_the_generator_where_the_forward_left_it():
    model = _mlp(blocks=1, p=0.5)
    x = _input()
    x.requires_grad = True
    distgrad.manual_seed(5)
    y = checkpoint(model, x, use_reentrant=False)
    after_forward = distgrad.get_rng_state()
    y.sum().backward()
    assert distgrad.get_rng_state() == after_forward
    plain = _grads(model, _input(), lambda m, x: m(x))
    assert not np.array_equal(plain[1], np.zeros_like(plain[1]))


def test_several_inputs_non_tensor_arguments_keyword_arguments_and_several_outputs():
    lin = nn.Linear(4, 4).double()

    def fn(a, b, scale, *, shift):
        h = lin(a) * scale + b
        return h.tanh() + shift, (h * b).sum(), "label"

    def run(use_ckpt):
        lin.zero_grad()
        a = distgrad.tensor(np.arange(12.0).reshape(3, 4) / 10, requires_grad=True)
        b = distgrad.tensor(np.ones((3, 4)) / 3, requires_grad=True)
        out = checkpoint(fn, a, b, 2.0, use_reentrant=False, shift=0.5) if use_ckpt else fn(a, b, 2.0, shift=0.5)
        assert out[2] == "label"
        (out[0].sum() * 3 + out[1]).backward()
        return a.grad.numpy(), b.grad.numpy(), lin.weight.grad.numpy(), lin.bias.grad.numpy()

    for plain, ckpt in zip(run(False), run(True)):
        assert np.array_equal(plain, ckpt)


def test_only_one_of_several_outputs_used():
    lin = nn.Linear(3, 3).double()
    x = distgrad.tensor(np.eye(3), requires_grad=True)
    first, second = checkpoint(lambda t: (lin(t), lin(t) * 2), x, use_reentrant=False)
    second.sum().backward()
    expected = 2 * np.ones((3, 3)) @ lin.weight.detach().numpy()
    assert np.allclose(x.grad.numpy(), expected)


def test_nested_checkpoints_and_checkpoint_sequential():
    model = _mlp(blocks=6, p=0.2)
    plain = _grads(model, _input(), lambda m, x: m(x))

    def nested(m, x):
        inner = lambda t: checkpoint(m[3:9], t, use_reentrant=False)  # noqa: E731
        return m[9:](checkpoint(lambda t: inner(m[:3](t)), x, use_reentrant=False))

    _same(plain, _grads(model, _input(), nested))
    _same(plain, _grads(model, _input(), lambda m, x: checkpoint_sequential(m, 3, x, use_reentrant=False)))


def test_non_reentrant_reaches_parameters_when_no_input_requires_grad_reentrant_does_not():
    lin = nn.Linear(3, 2).double()
    x = distgrad.tensor(np.ones((2, 3)))
    checkpoint(lin, x, use_reentrant=False).sum().backward()
    assert np.array_equal(lin.weight.grad.numpy(), 2 * np.ones((2, 3)))
    with pytest.warns(UserWarning, match="no tensor argument requires grad"):
        assert not checkpoint(lin, x, use_reentrant=True).requires_grad
    with pytest.raises(ValueError, match="keyword arguments"):
        checkpoint(lin, x, use_reentrant=True, scale=2)
    with pytest.raises(ValueError, match="segments"):
        checkpoint_sequential(nn.Sequential(lin), 2, x)


def test_without_use_reentrant_it_warns_and_runs_the_reentrant_variant_as_pytorch():
    lin = nn.Linear(3, 2).double()
    x = distgrad.tensor(np.ones((2, 3)))
    with pytest.warns(UserWarning, match="use_reentrant"):
        y = checkpoint(lin, x)
    assert not y.requires_grad


def test_a_list_of_outputs_comes_back_as_a_list_and_differentiates():
    lin = nn.Linear(3, 3).double()
    x = distgrad.tensor(np.eye(3), requires_grad=True)
    outs = checkpoint(lambda t: [lin(t), t * 2], x, use_reentrant=False)
    assert isinstance(outs, list) and len(outs) == 2
    (outs[0].sum() + outs[1].sum()).backward()
    expected = np.ones((3, 3)) @ lin.weight.detach().numpy() + 2
    assert np.allclose(x.grad.numpy(), expected)


def test_an_input_changed_in_place_after_the_forward_is_caught():
    lin = nn.Linear(3, 3).double()
    x = distgrad.tensor(np.ones((2, 3)), requires_grad=True)
    h = x * 1
    y = checkpoint(lin, h, use_reentrant=False)
    with distgrad.no_grad():
        h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.sum().backward()


def test_against_torch():
    torch = pytest.importorskip("torch")
    from torch.utils.checkpoint import checkpoint as torch_checkpoint
    model = _mlp(blocks=3)
    ref = torch.nn.Sequential(*[torch.nn.Linear(16, 16) if isinstance(m, nn.Linear) else torch.nn.Tanh()
                                for m in model]).double()
    with torch.no_grad():
        for p, q in zip(model.parameters(), ref.parameters()):
            q.copy_(torch.from_numpy(p.detach().numpy()))
    x = torch.from_numpy(_input().numpy()).requires_grad_()
    out = torch_checkpoint(ref[:4], x, use_reentrant=False)
    (ref[4:](out) ** 2).sum().backward()
    ours = _grads(model, _input(), lambda m, x: m[4:](checkpoint(m[:4], x, use_reentrant=False)))
    assert np.allclose(ours[1], x.grad.numpy(), rtol=1e-12, atol=1e-12)
    for g, q in zip(ours[2], ref.parameters()):
        assert np.allclose(g, q.grad.numpy(), rtol=1e-12, atol=1e-12)


class _Block(nn.Module):
    """An MLP block as in a transformer: x + W2 gelu(W1 x), four times as wide inside."""

    def __init__(self, width):
        super().__init__()
        self.up, self.down = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

    def forward(self, x):
        return x + self.down(nn.functional.gelu(self.up(x)))


def test_checkpointing_a_16_block_mlp_cuts_peak_activation_memory_at_least_threefold():
    distgrad.manual_seed(0)
    model = nn.Sequential(*[_Block(64) for _ in range(16)])
    x = distgrad.randn(128, 64)

    def peak(run):
        model.zero_grad(set_to_none=False)
        memory.reset_peak()
        start = memory.memory_allocated()
        run(x).sum().backward()
        return memory.max_allocated() - start

    memory.enable()
    try:
        peak(model)  # allocate every .grad once, so that both measured runs start alike
        plain = peak(model)
        ckpt = peak(lambda t: checkpoint_sequential(model, 16, t, use_reentrant=False))
    finally:
        memory.disable()
    assert ckpt * 3 <= plain, (plain, ckpt)
