"""distgrad.amp.GradScaler against torch.amp.GradScaler: the same scale, the same skipped steps
and the same parameters over a float32 run made to overflow, step for step."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.nn as dnn
import distgrad.optim as doptim
from distgrad.amp import GradScaler

torch = pytest.importorskip("torch")

STEPS = 200
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered")  # the run overflows on purpose


def overflow_factor(step):
    """Most steps are clean; some make the scaled loss inf (1e38 times it) or NaN."""
    if step % 11 == 4:
        return 1e38
    if step % 17 == 9:
        return float("nan")
    return 1.0


def models():
    torch.manual_seed(0)
    reference = torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.Tanh(), torch.nn.Linear(12, 1))
    ours = dnn.Sequential(dnn.Linear(6, 12), dnn.Tanh(), dnn.Linear(12, 1))
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in reference.state_dict().items()})
    return reference, ours


def batches():
    rng = np.random.default_rng(5)
    return [(rng.standard_normal((8, 6)).astype(np.float32), rng.standard_normal((8, 1)).astype(np.float32))
            for _ in range(STEPS)]


def run(framework, net, optimizer, scaler, clip=None):
    """Train STEPS steps; the scale before each step and whether the step was skipped."""
    scales, skipped = [], []
    for step, (x, y) in enumerate(batches()):
        optimizer.zero_grad()
        out = net(framework.from_numpy(x))
        loss = ((out - framework.from_numpy(y)) ** 2).mean() * overflow_factor(step)
        scaler.scale(loss).backward()
        if clip is not None:
            scaler.unscale_(optimizer)
            framework.nn.utils.clip_grad_norm_(net.parameters(), clip)
        before = scaler.get_scale()
        scaler.step(optimizer)
        scaler.update()
        scales.append(before)
        skipped.append(scaler.get_scale() < before)
    return scales, skipped


def parameters(net):
    return [p.detach().numpy() for p in net.parameters()]


@pytest.mark.parametrize("optimizer, hyper, clip", [
    ("SGD", dict(lr=0.05, momentum=0.9), None),
    ("Adam", dict(lr=0.01), None),
    ("SGD", dict(lr=0.05), 0.5),  # unscale_ then clip_grad_norm_, PyTorch's recipe
])
def test_scale_skipped_steps_and_parameters_follow_pytorch(optimizer, hyper, clip):
    reference, ours = models()
    settings = dict(init_scale=2.0 ** 10, growth_interval=5)
    theirs = run(torch, reference, getattr(torch.optim, optimizer)(reference.parameters(), **hyper),
                 torch.amp.GradScaler("cpu", **settings), clip)
    mine = run(dg, ours, getattr(doptim, optimizer)(ours.parameters(), **hyper), GradScaler("cpu", **settings), clip)
    assert mine[0] == theirs[0]  # every scale, exactly
    assert mine[1] == theirs[1] and 20 < sum(mine[1]) < 60  # the same steps skipped, and some were
    assert max(mine[0]) > 2.0 ** 10  # the scale grew as well as backed off
    for a, b in zip(parameters(ours), parameters(reference)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_scale_multiplies_like_pytorch_and_leaves_a_disabled_run_alone():
    loss = dg.tensor(3.0)
    scaled = GradScaler("cpu", init_scale=8.0).scale(loss)
    reference = torch.amp.GradScaler("cpu", init_scale=8.0).scale(torch.tensor(3.0))
    assert tuple(scaled.shape) == tuple(reference.shape) and scaled.dtype == dg.float32
    assert float(scaled.sum()) == float(reference.sum()) == 24.0
    pair = GradScaler("cpu", init_scale=8.0).scale([loss, (loss,)])
    assert float(pair[1][0].sum()) == 24.0 and isinstance(pair[1], tuple)
    off = GradScaler("cpu", enabled=False)
    assert off.scale(loss) is loss and off.get_scale() == 1.0 and off.state_dict() == {} and not off.is_enabled()


def test_state_dict_round_trips_and_matches_pytorchs():
    reference, ours = models()
    ref_opt, our_opt = torch.optim.SGD(reference.parameters(), lr=0.1), doptim.SGD(ours.parameters(), lr=0.1)
    theirs, mine = torch.amp.GradScaler("cpu", growth_interval=3), GradScaler("cpu", growth_interval=3)
    for framework, net, opt, scaler in ((torch, reference, ref_opt, theirs), (dg, ours, our_opt, mine)):
        for step in (0, 1, 4):  # a clean step, another, then an overflowing one, then two clean
            x, y = batches()[step]
            opt.zero_grad()
            scaler.scale(((net(framework.from_numpy(x)) - framework.from_numpy(y)) ** 2).mean()
                         * overflow_factor(step)).backward()
            scaler.step(opt)
            scaler.update()
    assert mine.state_dict() == theirs.state_dict()
    resumed = GradScaler("cpu")
    resumed.load_state_dict(mine.state_dict())
    assert resumed.state_dict() == mine.state_dict()
    resumed.scale(dg.tensor(1.0))  # made lazily, from the loaded values
    assert resumed.get_scale() == mine.get_scale() and resumed._get_growth_tracker() == mine._get_growth_tracker()
    with pytest.raises(RuntimeError, match="state dict is empty"):
        GradScaler("cpu").load_state_dict({})


def one_backward(scaler):
    w = dg.tensor([1.0, 2.0], requires_grad=True)
    opt = doptim.SGD([w], lr=0.1)
    scaler.scale((w * w).sum()).backward()
    return w, opt


def test_misuse_is_refused_as_in_pytorch():
    scaler = GradScaler("cpu", init_scale=4.0)
    w, opt = one_backward(scaler)
    scaler.unscale_(opt)
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 4.0])  # divided by the scale
    with pytest.raises(RuntimeError, match="already been called"):
        scaler.unscale_(opt)
    scaler.step(opt)
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
        scaler.step(opt)
    with pytest.raises(RuntimeError, match="after step"):
        scaler.unscale_(opt)
    scaler.update(new_scale=2.0)
    assert scaler.get_scale() == 2.0
    with pytest.raises(AssertionError, match="No inf checks"):
        scaler.update()
    with pytest.raises(AssertionError, match="_scale is None"):
        GradScaler("cpu").step(opt)
    half = dg.tensor([1.0], requires_grad=True)
    half.grad = dg.tensor([1.0]).half()
    with pytest.raises(ValueError, match="FP16 gradients"):
        fresh = GradScaler("cpu")
        fresh.scale(dg.tensor(1.0))
        fresh.unscale_(doptim.SGD([half], lr=0.1))


def test_the_cuda_names_and_a_machine_without_a_gpu():
    assert issubclass(dg.cuda.amp.GradScaler, GradScaler) and dg.amp.GradScaler is GradScaler
    if not dg.cuda.is_available():
        with pytest.warns(UserWarning, match="CUDA is not available"):
            assert not dg.cuda.amp.GradScaler().is_enabled()
