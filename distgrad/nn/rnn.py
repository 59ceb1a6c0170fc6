"""RNN, LSTM, GRU and their cells, with PyTorch's parameter names, shapes, gate order and init,
so state_dicts interchange with torch's. Each layer and direction runs as one op over the
whole sequence (distgrad/ops/rnn.py)."""
import math
import warnings

from .. import creation
from ..errors import OpRuntimeError, OpTypeError, OpValueError
from ..ops.rnn import GRULayer, LSTMLayer, RNNLayer
from ..ops.shape import cat, stack
from . import functional as F, init
from .input_checks import check_input_dtype
from .module import Module
from .parameter import Parameter
from .utils.rnn import PackedSequence, packed_to_padded, padded_to_packed

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _parameter(shape, device, dtype):
    return Parameter(creation.empty(*shape, device=device, dtype=dtype))


def _uniform_init(module):
    """PyTorch's init of every recurrent weight and bias: U(-1/sqrt(hidden), 1/sqrt(hidden))."""
    bound = 1.0 / math.sqrt(module.hidden_size) if module.hidden_size > 0 else 0
    for weight in module.parameters():
        init.uniform_(weight, -bound, bound)


def _run_layer(mode, x, states, weights, batch_sizes, reverse, proj_size=0):
    """One layer, one direction: (outputs (T, B, H), final h, final c or None)."""
    T = x.shape[0]
    if mode == "LSTM":
        y = LSTMLayer.apply(x, *states, *weights, batch_sizes=batch_sizes, reverse=reverse, proj=bool(proj_size))
        if proj_size:  # h is (B, proj_size), c is (B, hidden): h fills the first columns
            return y[:T, :, :proj_size], y[T, :, :proj_size], y[T + 1]
        return y[:T], y[T], y[T + 1]
    if mode == "GRU":
        y = GRULayer.apply(x, *states, *weights, batch_sizes=batch_sizes, reverse=reverse)
    else:
        y = RNNLayer.apply(x, *states, *weights, batch_sizes=batch_sizes, reverse=reverse,
                           nonlinearity="tanh" if mode == "RNN_TANH" else "relu")
    return y[:T], y[T], None


class RNNBase(Module):
    """The multi-layer, optionally bidirectional recurrent layer behind RNN, LSTM and GRU."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise OpValueError(name, "dropout should be a number in range [0, 1] representing the probability "
                                     f"of an element being zeroed, got {dropout!r}")
        for what, value in (("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise OpValueError(name, f"{what} must be a positive integer, got {value!r}")
        if proj_size:
            if mode != "LSTM":
                raise OpValueError(name, "proj_size argument is only supported for LSTM, not RNN or GRU")
            if not isinstance(proj_size, int) or proj_size < 0 or proj_size >= hidden_size:
                raise OpValueError(name, f"proj_size has to be a positive integer smaller than hidden_size "
                                         f"({hidden_size}), got {proj_size!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout option adds dropout after all but last recurrent layer, so non-zero "
                          f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={num_layers}", UserWarning, stacklevel=3)
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, proj_size
        gate_rows = _GATES[mode] * hidden_size
        directions = 2 if bidirectional else 1
        real_hidden = proj_size or hidden_size  # the width of h and of the outputs
        self._flat_weights_names = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else real_hidden * directions
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = [("weight_ih", (gate_rows, layer_input)), ("weight_hh", (gate_rows, real_hidden))]
                if bias:
                    shapes += [("bias_ih", (gate_rows,)), ("bias_hh", (gate_rows,))]
                if proj_size:
                    shapes.append(("weight_hr", (proj_size, hidden_size)))
                for prefix, shape in shapes:
                    setattr(self, prefix + suffix, _parameter(shape, device, dtype))
                    self._flat_weights_names.append(prefix + suffix)
        self.reset_parameters()

    reset_parameters = _uniform_init

    def flatten_parameters(self):
        """A no-op: there is no fused weight buffer to compact (PyTorch's is for cuDNN)."""

    @property
    def _flat_weights(self):
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self):
        per = len(self._flat_weights_names) // (self.num_layers * (2 if self.bidirectional else 1))
        weights = self._flat_weights
        return [weights[i:i + per] for i in range(0, len(weights), per)]

    def _layer_weights(self, layer, direction):
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        names = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if self.bias else ())
        names += ("weight_hr",) if self.proj_size else ()
        return [getattr(self, n + suffix) for n in names]

    def forward(self, input, hx=None):
        name = type(self).__name__
        packed = isinstance(input, PackedSequence)
        batch_sizes = sorted_indices = unsorted_indices = None
        if packed:
            batch_sizes = tuple(input.batch_sizes.tolist())
            sorted_indices, unsorted_indices = input.sorted_indices, input.unsorted_indices
            x, batched = packed_to_padded(input.data, batch_sizes), True
        else:
            if input.ndim not in (2, 3):
                raise OpValueError(name, f"expected input to be 2D (unbatched) or 3D, got {input.ndim}D instead "
                                         f"(shape {tuple(input.shape)})")
            batched = input.ndim == 3
            x = input if not batched else input.transpose(0, 1) if self.batch_first else input
            if not batched:
                x = x.unsqueeze(1)
        if x.shape[-1] != self.input_size:
            raise OpRuntimeError(name, f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                                       f"got {x.shape[-1]} (input shape {tuple(input.data.shape if packed else input.shape)})")
        check_input_dtype(name, x, self.weight_ih_l0)
        states = self._initial_states(name, hx, x, batched, sorted_indices)
        output, finals = self._layers(x, states, batch_sizes)
        finals = [stack(f) for f in finals]
        if packed:
            output = PackedSequence(padded_to_packed(output, batch_sizes), input.batch_sizes, sorted_indices,
                                    unsorted_indices)
            if unsorted_indices is not None:
                finals = [f.index_select(1, unsorted_indices.to(f.device)) for f in finals]
        elif not batched:
            output, finals = output.squeeze(1), [f.squeeze(1) for f in finals]
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, (tuple(finals) if self.mode == "LSTM" else finals[0])

    def _layers(self, x, states, batch_sizes):
        directions = 2 if self.bidirectional else 1
        finals = [[] for _ in states]
        for layer in range(self.num_layers):
            if layer and self.dropout and self.training:
                x = F.dropout(x, self.dropout, training=True)
            outs = []
            for direction in range(directions):
                k = layer * directions + direction
                out, h, c = _run_layer(self.mode, x, [s[k] for s in states], self._layer_weights(layer, direction),
                                       batch_sizes, bool(direction), self.proj_size)
                outs.append(out)
                finals[0].append(h)
                if c is not None:
                    finals[1].append(c)
            x = outs[0] if directions == 1 else cat(outs, 2)
        return x, finals

    def _initial_states(self, name, hx, x, batched, sorted_indices):
        """The initial states as lists of (B, H) tensors, one per layer and direction."""
        count = self.num_layers * (2 if self.bidirectional else 1)
        B = x.shape[1]
        n_states = 2 if self.mode == "LSTM" else 1
        widths = [self.proj_size or self.hidden_size, self.hidden_size][:n_states]  # h, then c
        if hx is None:
            return [[creation.zeros(B, w, dtype=x.dtype, device=x.device)] * count for w in widths]
        if self.mode == "LSTM":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise OpTypeError(name, "hx must be a tuple (h_0, c_0) of two tensors")
        else:
            hx = (hx,)
        states = []
        for j, state in enumerate(hx):
            label = f"hidden[{j}]" if n_states == 2 else "hidden"
            if state.ndim != (3 if batched else 2):
                raise OpRuntimeError(name, f"for {'batched 3-D' if batched else 'unbatched 2-D'} input, {label} "
                                           f"should be {3 if batched else 2}-D but got {state.ndim}-D tensor")
            if not batched:
                state = state.unsqueeze(1)
            expected = (count, B, widths[j])
            if tuple(state.shape) != expected:
                raise OpRuntimeError(name, f"Expected {label} size {expected}, got {tuple(state.shape)}")
            check_input_dtype(name, state, self.weight_ih_l0)
            if sorted_indices is not None:
                state = state.index_select(1, sorted_indices.to(state.device))
            states.append([state[k] for k in range(count)])
        return states

    def extra_repr(self):
        text = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            text += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if not self.bias:
            text += ", bias=False"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text


class RNN(RNNBase):
    def __init__(self, *args, nonlinearity="tanh", **kwargs):
        if len(args) > 3:  # PyTorch's positional order: input_size, hidden_size, num_layers, nonlinearity, ...
            args, nonlinearity = args[:3] + args[4:], args[3]
        if nonlinearity not in ("tanh", "relu"):
            raise OpValueError("RNN", f"unknown nonlinearity {nonlinearity!r}; choose 'tanh' or 'relu'")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", *args, **kwargs)

    def extra_repr(self):
        text = super().extra_repr()
        return text if self.nonlinearity == "tanh" else text + f", nonlinearity={self.nonlinearity}"


class LSTM(RNNBase):
    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    def __init__(self, *args, **kwargs):
        super().__init__("GRU", *args, **kwargs)


class RNNCellBase(Module):
    """One step: weight_ih (G*H, I), weight_hh (G*H, H), bias_ih, bias_hh as PyTorch's cells."""

    mode = None

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        rows = _GATES[self.mode] * hidden_size
        self.weight_ih = _parameter((rows, input_size), device, dtype)
        self.weight_hh = _parameter((rows, hidden_size), device, dtype)
        if bias:
            self.bias_ih = _parameter((rows,), device, dtype)
            self.bias_hh = _parameter((rows,), device, dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    reset_parameters = _uniform_init

    def forward(self, input, hx=None):
        name = type(self).__name__
        if input.ndim not in (1, 2):
            raise OpValueError(name, f"expected input to be 1D or 2D, got {input.ndim}D instead "
                                     f"(shape {tuple(input.shape)})")
        if input.shape[-1] != self.input_size:
            raise OpRuntimeError(name, f"input has inconsistent input_size: got {input.shape[-1]} expected "
                                       f"{self.input_size} (input shape {tuple(input.shape)})")
        check_input_dtype(name, input, self.weight_ih)
        batched = input.ndim == 2
        x = (input if batched else input.unsqueeze(0)).unsqueeze(0)
        states = self._states(name, hx, x.shape[1], batched, x)
        weights = [self.weight_ih, self.weight_hh] + ([self.bias_ih, self.bias_hh] if self.bias else [])
        _, h, c = _run_layer(self.mode, x, states, weights, None, False)
        if not batched:
            h, c = h.squeeze(0), (None if c is None else c.squeeze(0))
        return (h, c) if self.mode == "LSTM" else h

    def _states(self, name, hx, B, batched, x):
        n_states = 2 if self.mode == "LSTM" else 1
        if hx is None:
            zeros = creation.zeros(B, self.hidden_size, dtype=x.dtype, device=x.device)
            return [zeros] * n_states
        hx = tuple(hx) if self.mode == "LSTM" else (hx,)
        expected = (B, self.hidden_size) if batched else (self.hidden_size,)
        for j, state in enumerate(hx):
            if tuple(state.shape) != expected:
                raise OpRuntimeError(name, f"hidden state {j} has shape {tuple(state.shape)}, expected {expected}")
        return [s if batched else s.unsqueeze(0) for s in hx]

    def extra_repr(self):
        text = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            text += ", bias=False"
        return text


class RNNCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise OpValueError("RNNCell", f"unknown nonlinearity {nonlinearity!r}; choose 'tanh' or 'relu'")
        self.nonlinearity = nonlinearity
        self.mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(input_size, hidden_size, bias, device, dtype)


class LSTMCell(RNNCellBase):
    mode = "LSTM"


class GRUCell(RNNCellBase):
    mode = "GRU"
