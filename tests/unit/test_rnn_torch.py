"""RNN, LSTM, GRU, their cells and packed sequences against PyTorch in float64: outputs, final
states, input, state and parameter gradients, state_dicts, init, and the errors for bad input."""
import math

import numpy as np
import pytest

import distgrad as dg
import distgrad.nn as nn
from distgrad.autograd.gradcheck import gradcheck
from distgrad.nn.utils import rnn as rnn_utils
from distgrad.ops.rnn import GRULayer, LSTMLayer, RNNLayer

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(2024)
LAYERS = {"RNN": {}, "RNN_relu": {"nonlinearity": "relu"}, "LSTM": {}, "GRU": {}}


def pair(kind, *args, **kwargs):
    """The torch and distgrad layer of ``kind`` with torch's weights in both, float64."""
    name = kind.split("_")[0]
    kwargs = {**LAYERS.get(kind, {}), **kwargs}
    t = getattr(torch.nn, name)(*args, **kwargs).double()
    d = getattr(nn, name)(*args, **kwargs).to(dg.float64)
    d.load_state_dict({k: dg.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    return t, d


def both(array):
    return torch.tensor(array, requires_grad=True), dg.tensor(array, requires_grad=True)


def as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def close(got, want, what):
    got = got.detach().numpy() if isinstance(got, dg.Tensor) else got
    want = want.detach().numpy() if isinstance(want, torch.Tensor) else want
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=what)


def backward_both(t_outs, d_outs):
    """Backward through both with the same random weights on every output."""
    t_loss = d_loss = 0
    for t, d in zip(t_outs, d_outs):
        w = RNG.standard_normal(tuple(t.shape))
        t_loss = t_loss + (t * torch.tensor(w)).sum()
        d_loss = d_loss + (d * dg.tensor(w)).sum()
    t_loss.backward()
    d_loss.backward()


def compare_parameters(t, d):
    t_params, d_params = dict(t.named_parameters()), dict(d.named_parameters())
    assert list(t_params) == list(d_params)
    for name, p in t_params.items():
        assert tuple(d_params[name].shape) == tuple(p.shape), name
        close(d_params[name].grad, p.grad, f"grad of {name}")


CONFIGS = [dict(), dict(num_layers=2, bidirectional=True, batch_first=True), dict(num_layers=3, bias=False)]


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("config", CONFIGS, ids=["plain", "2layer-bi-batch_first", "3layer-nobias"])
def test_layer_matches_torch(kind, config):
    t, d = pair(kind, 4, 6, **config)
    layers = config.get("num_layers", 1) * (2 if config.get("bidirectional") else 1)
    tx, dx = both(RNG.standard_normal((3, 5, 4)))  # (batch, time) with batch_first, else (time, batch)
    states = [both(RNG.standard_normal((layers, 3 if config.get("batch_first") else 5, 6)))
              for _ in range(2 if kind == "LSTM" else 1)]
    t_h = tuple(s[0] for s in states) if kind == "LSTM" else states[0][0]
    d_h = tuple(s[1] for s in states) if kind == "LSTM" else states[0][1]
    t_out, t_final = t(tx, t_h)
    d_out, d_final = d(dx, d_h)
    close(d_out, t_out, "output")
    for j, (dv, tv) in enumerate(zip(as_tuple(d_final), as_tuple(t_final))):
        close(dv, tv, f"final state {j}")
    backward_both((t_out,) + as_tuple(t_final), (d_out,) + as_tuple(d_final))
    close(dx.grad, tx.grad, "input grad")
    for j, (ts, ds) in enumerate(states):
        close(ds.grad, ts.grad, f"initial state {j} grad")
    compare_parameters(t, d)


@pytest.mark.parametrize("packed", [False, True])
def test_lstm_with_projection(packed):
    t, d = pair("LSTM", 4, 6, num_layers=2, bidirectional=True, proj_size=3)
    assert [tuple(p.shape) for _, p in d.named_parameters()] == [tuple(p.shape) for _, p in t.named_parameters()]
    tx, dx = both(RNG.standard_normal((5, 3, 4)))
    (th, dh), (tc, dc) = both(RNG.standard_normal((4, 3, 3))), both(RNG.standard_normal((4, 3, 6)))
    t_in, d_in = tx, dx
    if packed:
        t_in = torch.nn.utils.rnn.pack_padded_sequence(tx, [2, 5, 4], enforce_sorted=False)
        d_in = rnn_utils.pack_padded_sequence(dx, [2, 5, 4], enforce_sorted=False)
    t_out, (t_h, t_c) = t(t_in, (th, tc))
    d_out, (d_h, d_c) = d(d_in, (dh, dc))
    if packed:
        t_out, d_out = t_out.data, d_out.data
    for got, want, what in ((d_out, t_out, "output"), (d_h, t_h, "h_n"), (d_c, t_c, "c_n")):
        assert tuple(got.shape) == tuple(want.shape)
        close(got, want, what)
    backward_both((t_out, t_h, t_c), (d_out, d_h, d_c))
    for got, want, what in ((dx, tx, "input"), (dh, th, "h0"), (dc, tc, "c0")):
        close(got.grad, want.grad, f"{what} grad")
    compare_parameters(t, d)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_state_dict_interchanges(kind):
    t = getattr(torch.nn, kind)(3, 5, num_layers=2, bidirectional=True)
    d = getattr(nn, kind)(3, 5, num_layers=2, bidirectional=True)
    t_state, d_state = t.state_dict(), d.state_dict()
    assert list(d_state) == list(t_state)
    assert [tuple(v.shape) for v in d_state.values()] == [tuple(v.shape) for v in t_state.values()]
    d.load_state_dict({k: dg.tensor(v.numpy()) for k, v in t_state.items()})
    t2 = getattr(torch.nn, kind)(3, 5, num_layers=2, bidirectional=True)
    t2.load_state_dict({k: torch.tensor(v.numpy()) for k, v in d.state_dict().items()})
    for name, value in t2.state_dict().items():
        assert torch.equal(value, t_state[name]), name
    d.flatten_parameters()  # a no-op, as scripts call it
    assert len(d.all_weights) == 4 and len(d.all_weights[0]) == 4


def test_no_initial_state_and_default_names():
    t, d = pair("LSTM", 3, 4)
    x = RNG.standard_normal((6, 2, 3))
    t_out, (t_h, t_c) = t(torch.tensor(x))
    d_out, (d_h, d_c) = d(dg.tensor(x))
    close(d_out, t_out, "output")
    close(d_c, t_c, "c_n")
    assert [n for n, _ in d.named_parameters()] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN_relu"])
def test_unbatched_input(kind):
    t, d = pair(kind, 3, 4, num_layers=2)
    tx, dx = both(RNG.standard_normal((5, 3)))
    th, dh = both(RNG.standard_normal((2, 4)))
    if kind == "LSTM":
        tc, dc = both(RNG.standard_normal((2, 4)))
        t_out, t_final = t(tx, (th, tc))
        d_out, d_final = d(dx, (dh, dc))
    else:
        t_out, t_final = t(tx, th)
        d_out, d_final = d(dx, dh)
    assert tuple(d_out.shape) == (5, 4)
    close(d_out, t_out, "output")
    for dv, tv in zip(as_tuple(d_final), as_tuple(t_final)):
        assert tuple(dv.shape) == tuple(tv.shape)
        close(dv, tv, "final state")
    backward_both((t_out,) + as_tuple(t_final), (d_out,) + as_tuple(d_final))
    close(dx.grad, tx.grad, "input grad")
    close(dh.grad, th.grad, "h0 grad")


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_sequences(kind, enforce_sorted):
    lengths = [5, 3, 3, 1] if enforce_sorted else [2, 5, 1, 4]
    t, d = pair(kind, 3, 4, num_layers=2, bidirectional=True, batch_first=True)
    tx, dx = both(RNG.standard_normal((4, 5, 3)))
    t_packed = torch.nn.utils.rnn.pack_padded_sequence(tx, lengths, batch_first=True, enforce_sorted=enforce_sorted)
    d_packed = rnn_utils.pack_padded_sequence(dx, lengths, batch_first=True, enforce_sorted=enforce_sorted)
    close(d_packed.data, t_packed.data, "packed data")
    assert d_packed.batch_sizes.tolist() == t_packed.batch_sizes.tolist()
    t_out, t_final = t(t_packed)
    d_out, d_final = d(d_packed)
    assert isinstance(d_out, rnn_utils.PackedSequence)
    close(d_out.data, t_out.data, "packed output")
    t_pad, t_len = torch.nn.utils.rnn.pad_packed_sequence(t_out, batch_first=True, padding_value=-1.0)
    d_pad, d_len = rnn_utils.pad_packed_sequence(d_out, batch_first=True, padding_value=-1.0)
    close(d_pad, t_pad, "padded output")
    assert d_len.tolist() == t_len.tolist() == lengths
    for j, (dv, tv) in enumerate(zip(as_tuple(d_final), as_tuple(t_final))):
        close(dv, tv, f"final state {j}")
    backward_both((t_pad,) + as_tuple(t_final), (d_pad,) + as_tuple(d_final))
    close(dx.grad, tx.grad, "input grad")
    compare_parameters(t, d)


def test_packed_with_initial_state_in_original_order():
    t, d = pair("GRU", 2, 3)
    lengths = [1, 4, 2]
    x, h0 = RNG.standard_normal((4, 3, 2)), RNG.standard_normal((1, 3, 3))
    t_out, t_h = t(torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(x), lengths, enforce_sorted=False),
                   torch.tensor(h0))
    d_out, d_h = d(rnn_utils.pack_padded_sequence(dg.tensor(x), lengths, enforce_sorted=False), dg.tensor(h0))
    close(d_out.data, t_out.data, "output")
    close(d_h, t_h, "h_n")


def test_dropout_between_layers_only_in_training():
    t, d = pair("LSTM", 3, 8, num_layers=3, dropout=0.5)
    x = RNG.standard_normal((4, 2, 3))
    t.eval()
    d.eval()
    close(d(dg.tensor(x))[0], t(torch.tensor(x))[0], "eval output")
    d.train()
    dg.manual_seed(0)
    trained = d(dg.tensor(x))[0].detach().numpy()
    assert not np.allclose(trained, t(torch.tensor(x))[0].detach().numpy())


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("batched", [True, False])
def test_cells_match_torch(kind, batched):
    t, d = pair(kind, 3, 4)
    shape = (2,) if batched else ()
    tx, dx = both(RNG.standard_normal(shape + (3,)))
    states = [both(RNG.standard_normal(shape + (4,))) for _ in range(2 if kind == "LSTMCell" else 1)]
    t_h = tuple(s[0] for s in states) if kind == "LSTMCell" else states[0][0]
    d_h = tuple(s[1] for s in states) if kind == "LSTMCell" else states[0][1]
    t_out, d_out = as_tuple(t(tx, t_h)), as_tuple(d(dx, d_h))
    for dv, tv in zip(d_out, t_out):
        assert tuple(dv.shape) == tuple(tv.shape)
        close(dv, tv, "cell output")
    backward_both(t_out, d_out)
    close(dx.grad, tx.grad, "input grad")
    for ts, ds in states:
        close(ds.grad, ts.grad, "state grad")
    compare_parameters(t, d)
    assert list(d.state_dict()) == list(t.state_dict())


def test_cell_without_state_and_relu():
    t, d = pair("RNNCell", 3, 4, nonlinearity="relu", bias=False)
    x = RNG.standard_normal((2, 3))
    close(d(dg.tensor(x)), t(torch.tensor(x)), "relu cell")


@pytest.mark.parametrize("op", [LSTMLayer, GRULayer, RNNLayer])
def test_gradcheck_layer_ops_packed_and_reversed(op):
    """Every input of the whole-sequence ops against finite differences, with packed lengths
    (3, 2, 1) and the reverse direction, where final states come from different timesteps."""
    H = 2
    rows = {LSTMLayer: 4, GRULayer: 3, RNNLayer: 1}[op] * H
    tensors = [RNG.standard_normal(s) for s in [(3, 3, 2)] + [(3, H)] * (2 if op is LSTMLayer else 1)
               + [(rows, 2), (rows, H), (rows,), (rows,)]]
    inputs = [dg.tensor(a, requires_grad=True) for a in tensors]
    for reverse in (False, True):
        assert gradcheck(lambda *args: op.apply(*args, batch_sizes=(3, 2, 1), reverse=reverse), inputs)


def test_gradcheck_projected_lstm_op():
    H, P = 3, 2
    shapes = [(3, 3, 2), (3, P), (3, H), (4 * H, 2), (4 * H, P), (4 * H,), (4 * H,), (P, H)]
    inputs = [dg.tensor(RNG.standard_normal(s), requires_grad=True) for s in shapes]
    for reverse in (False, True):
        assert gradcheck(lambda *args: LSTMLayer.apply(*args, batch_sizes=(3, 2, 1), reverse=reverse, proj=True),
                         inputs)


def test_init_distribution():
    layer = nn.GRU(50, 100, num_layers=2)
    bound = 1 / math.sqrt(100)
    values = np.concatenate([p.detach().numpy().ravel() for p in layer.parameters()])
    assert values.min() >= -bound and values.max() <= bound
    assert abs(values.std() - bound / math.sqrt(3)) < 0.02 * bound  # U(-b, b): std b / sqrt(3)
    assert abs(values.mean()) < 0.02 * bound


def test_errors_name_the_layer_and_shapes():
    layer = nn.LSTM(5, 4, num_layers=2)
    with pytest.raises(RuntimeError, match=r"LSTM: input.size\(-1\) must be equal to input_size. Expected 5, got 3"):
        layer(dg.zeros(2, 1, 3))
    with pytest.raises(RuntimeError, match=r"LSTM: Expected hidden\[0\] size \(2, 1, 4\), got \(1, 1, 4\)"):
        layer(dg.zeros(2, 1, 5), (dg.zeros(1, 1, 4), dg.zeros(2, 1, 4)))
    with pytest.raises(ValueError, match="GRU: expected input to be 2D .* got 4D"):
        nn.GRU(5, 4)(dg.zeros(1, 2, 1, 5))
    with pytest.raises(RuntimeError, match=r"GRUCell: input has inconsistent input_size: got 2 expected 5"):
        nn.GRUCell(5, 4)(dg.zeros(3, 2))
    with pytest.raises(RuntimeError, match=r"RNN: for batched 3-D input, hidden should be 3-D but got 2-D"):
        nn.RNN(5, 4)(dg.zeros(2, 3, 5), dg.zeros(1, 4))
    with pytest.raises(TypeError, match="LSTM: input dtype float64 and parameter dtype float32"):
        layer(dg.zeros(2, 1, 5, dtype=dg.float64))
    with pytest.raises(ValueError, match="LSTM: proj_size has to be a positive integer smaller than hidden_size"):
        nn.LSTM(5, 4, proj_size=4)
    with pytest.raises(ValueError, match="GRU: proj_size argument is only supported for LSTM"):
        nn.GRU(5, 4, proj_size=2)
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        nn.GRU(5, 4, dropout=1.5)


def test_pad_sequence_matches_torch():
    seqs = [RNG.standard_normal((n, 2)) for n in (3, 1, 4)]
    for kwargs in (dict(), dict(batch_first=True, padding_value=-2.0), dict(padding_side="left")):
        want = torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs], **kwargs)
        close(rnn_utils.pad_sequence([dg.tensor(s) for s in seqs], **kwargs), want, str(kwargs))


def test_pack_sequence_round_trip_and_errors():
    seqs = [dg.tensor(RNG.standard_normal((n, 2))) for n in (2, 4, 1)]
    packed = rnn_utils.pack_sequence(seqs, enforce_sorted=False)
    want = torch.nn.utils.rnn.pack_sequence([torch.tensor(s.numpy()) for s in seqs], enforce_sorted=False)
    close(packed.data, want.data, "packed")
    assert packed.sorted_indices.tolist() == want.sorted_indices.tolist()
    assert packed.unsorted_indices.tolist() == want.unsorted_indices.tolist()
    for got, original in zip(rnn_utils.unpack_sequence(packed), seqs):
        close(got, original.numpy(), "unpacked")
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
        rnn_utils.pack_sequence(seqs)
    with pytest.raises(ValueError, match="total_length"):
        rnn_utils.pad_packed_sequence(packed, total_length=2)


def test_torch_import_paths():
    from distgrad.nn.modules import GRU, LSTM, LSTMCell  # noqa: F401
    from distgrad.nn.utils import clip_grad_norm_, parameters_to_vector  # noqa: F401
    from distgrad.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence  # noqa: F401
    assert nn.LSTM is LSTM and nn.utils.rnn.PackedSequence is PackedSequence
