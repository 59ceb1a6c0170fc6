"""Recurrent layers over a whole sequence: one Function per layer and direction.

Per-timestep small ops would cost a graph node each; here the input projection of every
timestep is one matmul, the forward loops over time on preallocated arrays, and the
backward runs BPTT by hand, with the weight gradients taken as one matmul over all
timesteps at the end.

Each Function takes ``x`` (T, B, I) and the initial state(s) (B, H), and returns ONE array
(T + k, B, H): the outputs of every timestep, then the final hidden state (and the final cell
state for the LSTM). The caller slices it (views), so the engine sees one node.

``batch_sizes`` (packed sequences): at step t only the first batch_sizes[t] rows are active
(the batch is sorted by decreasing length); the state of the others is held, so the final
state of a row is its state after its last step, in both directions, and the gradient of
the final state flows back untouched to that step. Output rows of inactive steps are 0.
"""
from ..function import Function

_SIGMOID_HALF = 0.5  # sigmoid(x) = 0.5 * tanh(x / 2) + 0.5: one tanh serves every gate


class _Recurrent(Function):
    """What all three layers share: inputs (x, h0[, c0], w_ih, w_hh[, b_ih, b_hh])."""

    n_states = 1  # initial-state inputs after x (the LSTM has two)
    op_name = "rnn"

    def forward(self, xp, x, *rest, batch_sizes=None, reverse=False, **params):
        k = self.n_states
        states, weights = rest[:k], rest[k:]
        T, B, _ = x.shape
        self.shape, self.reverse, self.x = (T, B), reverse, x
        self.rows = [B] * T if batch_sizes is None else list(batch_sizes)
        if reverse:
            self.rows.reverse()
        self.weights = weights
        self.has_bias = len(weights) - params.get("proj", False) == 4
        return self.run(xp, states, *weights, **params)

    def projected_input(self, xp, w_ih, bias=None):
        """x @ w_ih^T (+ bias) for every timestep at once, in processing order (T, B, G)."""
        T, B = self.shape
        x = self.x
        pre = xp.matmul(x.reshape(T * B, x.shape[2]), w_ih.T).reshape(T, B, -1)
        if bias is not None:
            pre += bias
        return pre[::-1] if self.reverse else pre

    def time_order(self, xp, a):
        """An array in processing order put back in time order (a copy when reversed)."""
        return xp.ascontiguousarray(a[::-1]) if self.reverse else a

    def outputs(self, xp, hs, extra=()):
        """The returned array: outputs in time order (0 at inactive steps), then final states.
        With an LSTM projection, h (width P) is narrower than c (H): h fills the first P columns."""
        T, B = self.shape
        P = hs.shape[2]
        width = max([P] + [state.shape[1] for state in extra])
        out = xp.empty((T + 1 + len(extra), B, width), dtype=hs.dtype)
        if width > P:
            out[:T + 1, :, P:] = 0
        out[:T, :, :P] = self.time_order(xp, hs[1:])
        if self.rows[0] < B or self.rows[-1] < B:
            for t, n in enumerate(self.rows):
                if n < B:
                    out[T - 1 - t if self.reverse else t, n:] = 0
        out[T, :, :P] = hs[T]
        for j, state in enumerate(extra):
            out[T + 1 + j] = state
        return out

    def input_grads(self, xp, g_x_side, w_ih, g_h_side, hs, states_grad, bias_grads):
        """The gradient tuple from the gate gradients of every step (processing order):
        ``g_x_side`` (T, B, G) against the input projection, ``g_h_side`` against hs[:T]."""
        T, B = self.shape
        need = self.needs_grad
        k = self.n_states
        G = g_x_side.shape[2]
        H = hs.shape[2]
        gx_time = self.time_order(xp, g_x_side).reshape(T * B, G)
        dx = xp.matmul(gx_time, w_ih).reshape(T, B, -1) if need[0] else None
        dw_ih = xp.matmul(gx_time.T, self.x.reshape(T * B, -1)) if need[k + 1] else None
        dw_hh = xp.matmul(g_h_side.reshape(T * B, -1).T, hs[:T].reshape(T * B, H)) if need[k + 2] else None
        grads = [dx] + [g if need[1 + j] else None for j, g in enumerate(states_grad)] + [dw_ih, dw_hh]
        if self.has_bias:
            grads += [b if need[k + 3 + j] else None for j, b in enumerate(bias_grads())]
        return tuple(grads)


class LSTMLayer(_Recurrent):
    """One LSTM layer, one direction. Gates are kept internally in the order o, i, f, g
    (PyTorch's rows are i, f, g, o): the three sigmoid gates are then one block in the
    forward, and the three gates the cell gradient multiplies one block in the backward.
    With ``proj=True`` the last input is PyTorch's weight_hr (P, H): h = (o * tanh(c)) @ w_hr^T."""

    n_states = 2
    op_name = "lstm"

    def run(self, xp, states, *weights, proj=False):
        h0, c0 = states
        self.w_hr = weights[-1] if proj else None
        w_ih, w_hh, b_ih, b_hh = (list(weights[:-1] if proj else weights) + [None, None])[:4]
        T, B = self.shape
        H = w_ih.shape[0] // 4
        P = w_hh.shape[1]
        perm = _lstm_order(xp, H)
        self.perm = perm
        scale = xp.full(4 * H, _SIGMOID_HALF, dtype=w_hh.dtype)
        scale[3 * H:] = 1
        w_ih_p = w_ih[perm] * scale[:, None]
        bias = None if b_ih is None else (b_ih + b_hh)[perm] * scale
        self.w_ih_p = w_ih[perm]
        self.w_hh_p = w_hh[perm]
        whh_t = (self.w_hh_p * scale[:, None]).T
        pre = _project(self, xp, w_ih_p, bias)
        acts = xp.zeros((T, B, 4 * H), dtype=pre.dtype)
        hs = xp.empty((T + 1, B, P), dtype=pre.dtype)
        cs = xp.empty((T + 1, B, H), dtype=pre.dtype)
        tcs = xp.zeros((T, B, H), dtype=pre.dtype)
        raw = xp.zeros((T, B, H), dtype=pre.dtype) if proj else None  # o * tanh(c), before the projection
        hr_t = None if raw is None else self.w_hr.T
        hs[0], cs[0] = h0, c0
        # the step's pointwise work: one launch on a GPU (kernels.lstm_cell_forward), array steps otherwise
        self.kernels = _fused_kernels(xp, pre, hs)
        cell = _generic_cell_forward(xp, B, H, pre.dtype) if self.kernels is None else self.kernels.lstm_cell_forward
        for t, n in enumerate(self.rows):
            if n < B:
                hs[t + 1, n:] = hs[t, n:]
                cs[t + 1, n:] = cs[t, n:]
            a = acts[t, :n]
            xp.matmul(hs[t, :n], whh_t, out=a)
            cell(a, pre[t, :n], cs[t, :n], cs[t + 1, :n], tcs[t, :n], hs[t + 1, :n] if raw is None else raw[t, :n])
            if raw is not None:
                xp.matmul(raw[t, :n], hr_t, out=hs[t + 1, :n])
        self.saved = (acts, hs, cs, tcs, raw)
        return self.outputs(xp, hs, (cs[T],))

    def backward(self, xp, grad):
        acts, hs, cs, tcs, raw = self.saved
        T, B = self.shape
        H, P = cs.shape[2], hs.shape[2]
        g_out = grad[:T, :, :P][::-1] if self.reverse else grad[:T, :, :P]
        dh, dc = grad[T, :, :P].copy(), grad[T + 1].copy()
        w_hr = self.w_hr
        d_proj = None if w_hr is None else xp.zeros((T, B, P), dtype=dh.dtype)  # dh of each step, for dw_hr
        d_raw = None if w_hr is None else xp.empty((B, H), dtype=dh.dtype)
        fused = self.kernels is not None and self.kernels.fusable(acts, grad)
        cell = None if fused else _generic_cell_backward(xp, acts, cs, tcs)
        gates = xp.zeros_like(acts)
        w_hh = self.w_hh_p
        for t in range(T - 1, -1, -1):
            n = self.rows[t]
            dht, dy, gt = dh[:n], g_out[t, :n], gates[t, :n]
            if w_hr is not None or not fused:  # the kernel adds dy itself when nothing comes between
                dht += dy
                dy = None
            if w_hr is not None:  # through the projection: the gate gradients see o * tanh(c)'s
                d_proj[t, :n] = dht
                dht = xp.matmul(dht, w_hr, out=d_raw[:n])
            if fused:
                self.kernels.lstm_cell_backward(dht, dy, acts[t, :n], tcs[t, :n], cs[t, :n], gt, dc[:n])
            else:
                cell(t, dht, gt, dc[:n])
            xp.matmul(gt, w_hh, out=dh[:n])
        grads = self.input_grads(xp, gates, self.w_ih_p, gates, hs, (dh, dc), lambda: _bias_grads(gates))
        inverse = xp.argsort(self.perm)
        k = self.n_states
        grads = [g[inverse] if g is not None and 1 + k <= j <= 4 + k else g for j, g in enumerate(grads)]
        if w_hr is not None:
            grads.append(xp.matmul(d_proj.reshape(T * B, P).T, raw.reshape(T * B, H))
                         if self.needs_grad[-1] else None)
        return tuple(grads)


class GRULayer(_Recurrent):
    """One GRU layer, one direction; gates r, z, n as PyTorch's, with
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))."""

    op_name = "gru"

    def run(self, xp, states, w_ih, w_hh, b_ih=None, b_hh=None):
        (h0,) = states
        T, B = self.shape
        H = w_hh.shape[1]
        H2 = 2 * H
        pre = _project(self, xp, w_ih, b_ih)
        pre[..., :H2] *= _SIGMOID_HALF
        scale = xp.ones(3 * H, dtype=w_hh.dtype)
        scale[:H2] = _SIGMOID_HALF
        whh_t = (w_hh * scale[:, None]).T
        bhh = None if b_hh is None else b_hh * scale
        acts = xp.zeros((T, B, 3 * H), dtype=pre.dtype)
        hidden = xp.zeros((T, B, 3 * H), dtype=pre.dtype)  # h @ W_hh^T + b_hh, r and z halved
        hs = xp.empty((T + 1, B, H), dtype=pre.dtype)
        hs[0] = h0
        tmp = xp.empty((B, H), dtype=pre.dtype)
        for t, n in enumerate(self.rows):
            if n < B:
                hs[t + 1, n:] = hs[t, n:]
            hh = hidden[t, :n]
            xp.matmul(hs[t, :n], whh_t, out=hh)
            if bhh is not None:
                hh += bhh
            a = acts[t, :n]
            rz = a[:, :H2]
            xp.add(pre[t, :n, :H2], hh[:, :H2], out=rz)
            xp.tanh(rz, out=rz)
            rz *= 0.5
            rz += 0.5
            new = a[:, H2:]
            xp.multiply(a[:, :H], hh[:, H2:], out=new)
            new += pre[t, :n, H2:]
            xp.tanh(new, out=new)
            tn = tmp[:n]
            xp.subtract(hs[t, :n], new, out=tn)
            tn *= a[:, H:H2]
            xp.add(new, tn, out=hs[t + 1, :n])  # n + z * (h - n)
        self.saved = (acts, hidden[..., H2:], hs)
        return self.outputs(xp, hs)

    def backward(self, xp, grad):
        acts, hidden_n, hs = self.saved
        T, B = self.shape
        H = hs.shape[2]
        H2 = 2 * H
        g_out = grad[:T][::-1] if self.reverse else grad[:T]
        dh = grad[T].copy()
        r, z, new = acts[..., :H], acts[..., H:H2], acts[..., H2:]
        d_z = (hs[:T] - new) * z * (1 - z)
        d_n = (1 - z) * (1 - new * new)
        d_r = hidden_n * r * (1 - r)
        gx = xp.zeros_like(acts)  # gradients of the input-side pre-activations
        gh = xp.zeros_like(acts)  # and of h @ W_hh^T + b_hh
        tmp = xp.empty((B, H), dtype=dh.dtype)
        w_hh = self.weights[1]
        for t in range(T - 1, -1, -1):
            n = self.rows[t]
            dht = dh[:n]
            dht += g_out[t, :n]
            x_side, h_side = gx[t, :n], gh[t, :n]
            xp.multiply(dht, d_z[t, :n], out=x_side[:, H:H2])
            dn = x_side[:, H2:]
            xp.multiply(dht, d_n[t, :n], out=dn)
            xp.multiply(dn, r[t, :n], out=h_side[:, H2:])
            xp.multiply(dn, d_r[t, :n], out=x_side[:, :H])
            h_side[:, :H2] = x_side[:, :H2]
            tn = tmp[:n]
            xp.multiply(dht, z[t, :n], out=tn)
            xp.matmul(h_side, w_hh, out=dht)
            dht += tn
        return self.input_grads(xp, gx, self.weights[0], gh, hs, (dh,),
                                lambda: (gx.sum(axis=(0, 1)), gh.sum(axis=(0, 1))))


class RNNLayer(_Recurrent):
    """One Elman RNN layer, one direction: h' = tanh or relu(W_ih x + b_ih + W_hh h + b_hh)."""

    def run(self, xp, states, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
        (h0,) = states
        T, B = self.shape
        H = w_hh.shape[1]
        self.tanh = nonlinearity == "tanh"
        pre = _project(self, xp, w_ih, None if b_ih is None else b_ih + b_hh)
        hs = xp.empty((T + 1, B, H), dtype=pre.dtype)
        hs[0] = h0
        whh_t = w_hh.T
        for t, n in enumerate(self.rows):
            if n < B:
                hs[t + 1, n:] = hs[t, n:]
            h = hs[t + 1, :n]
            xp.matmul(hs[t, :n], whh_t, out=h)
            h += pre[t, :n]
            if self.tanh:
                xp.tanh(h, out=h)
            else:
                xp.maximum(h, 0, out=h)
        self.saved = hs
        return self.outputs(xp, hs)

    def backward(self, xp, grad):
        hs = self.saved
        T, B = self.shape
        g_out = grad[:T][::-1] if self.reverse else grad[:T]
        dh = grad[T].copy()
        out = hs[1:]
        deriv = 1 - out * out if self.tanh else (out > 0).astype(out.dtype)
        gates = xp.zeros_like(out)
        w_hh = self.weights[1]
        for t in range(T - 1, -1, -1):
            n = self.rows[t]
            dht = dh[:n]
            dht += g_out[t, :n]
            gt = gates[t, :n]
            xp.multiply(dht, deriv[t, :n], out=gt)
            xp.matmul(gt, w_hh, out=dht)
        return self.input_grads(xp, gates, self.weights[0], gates, hs, (dh,), lambda: _bias_grads(gates))


def _fused_kernels(xp, *arrays):
    """distgrad.cuda.kernels when its one-launch LSTM cell takes these arrays (CuPy, float32 or
    float64), else None: the generic steps below."""
    if xp.__name__ == "numpy":
        return None
    from ..cuda import kernels  # imports no CuPy of its own; only reached with GPU arrays
    return kernels if kernels.fusable(*arrays) else None


def _generic_cell_forward(xp, B, H, dtype):
    """The LSTM step after h_prev @ W_hh^T, as kernels.lstm_cell_forward computes it in one
    launch (gates o, i, f, g; sigmoid pre-activations halved), here in array steps."""
    H3 = 3 * H
    tmp = xp.empty((B, H), dtype=dtype)

    def cell(a, pre, c_prev, c, tc, h):
        a += pre
        xp.tanh(a, out=a)
        sig = a[:, :H3]
        sig *= 0.5
        sig += 0.5
        xp.multiply(a[:, 2 * H:H3], c_prev, out=c)  # f * c_prev
        tn = tmp[:len(a)]
        xp.multiply(a[:, H:2 * H], a[:, H3:], out=tn)  # + i * g
        c += tn
        xp.tanh(c, out=tc)
        xp.multiply(a[:, :H], tc, out=h)  # o * tanh(c)
    return cell


def _generic_cell_backward(xp, acts, cs, tcs):
    """kernels.lstm_cell_backward in array steps, what each gate gradient is (times dh for o,
    dc for i, f, g) taken for all steps at once. ``cell(t, dh, gt, dc)`` takes step t's whole
    gradient of h, writes its gate gradients to ``gt`` and turns ``dc`` into the previous step's."""
    T, B, H4 = acts.shape
    H = H4 // 4
    o, i, f, g = acts[..., :H], acts[..., H:2 * H], acts[..., 2 * H:3 * H], acts[..., 3 * H:]
    mult = xp.empty_like(acts)
    sig = acts[..., :3 * H]
    xp.multiply(sig, 1 - sig, out=mult[..., :3 * H])
    mult[..., :H] *= tcs
    mult[..., H:2 * H] *= g
    mult[..., 2 * H:3 * H] *= cs[:T]
    xp.multiply(g, g, out=mult[..., 3 * H:])
    xp.subtract(1, mult[..., 3 * H:], out=mult[..., 3 * H:])
    mult[..., 3 * H:] *= i
    dc_from_h = o * (1 - tcs * tcs)
    tmp = xp.empty((B, H), dtype=acts.dtype)

    def cell(t, dh, gt, dc):
        n = len(dh)
        tn = tmp[:n]
        xp.multiply(dh, dc_from_h[t, :n], out=tn)
        dc += tn
        xp.multiply(dh, mult[t, :n, :H], out=gt[:, :H])
        xp.multiply(dc[:, None, :], mult[t, :n, H:].reshape(n, 3, H), out=gt[:, H:].reshape(n, 3, H))
        dc *= f[t, :n]
    return cell


def _project(fn, xp, w_ih, bias):
    return xp.ascontiguousarray(fn.projected_input(xp, w_ih, bias))


def _bias_grads(gates):
    db = gates.sum(axis=(0, 1))
    return db, db.copy()


def _lstm_order(xp, H):
    """Row indices taking PyTorch's gate blocks i, f, g, o to o, i, f, g."""
    blocks = xp.arange(4 * H).reshape(4, H)
    return blocks[[3, 0, 1, 2]].reshape(-1)
