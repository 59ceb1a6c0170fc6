"""Learning-rate schedulers: the same lr sequences as PyTorch's."""
import math

import pytest

import distgrad as dg
import distgrad.nn as nn
import distgrad.optim as optim
from distgrad.optim import lr_scheduler

SCHEDULES = {
    "StepLR": lambda s, o: s.StepLR(o, step_size=3, gamma=0.5),
    "MultiStepLR": lambda s, o: s.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3),
    "ExponentialLR": lambda s, o: s.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda s, o: s.CosineAnnealingLR(o, T_max=7, eta_min=0.01),
    "LinearLR": lambda s, o: s.LinearLR(o, start_factor=0.1, total_iters=6),
    "LinearLR-decay": lambda s, o: s.LinearLR(o, start_factor=1.0, end_factor=0.2, total_iters=4),
    "LambdaLR": lambda s, o: s.LambdaLR(o, lambda epoch: 0.95 ** epoch + 0.1 * (epoch % 3)),
    "SequentialLR": lambda s, o: s.SequentialLR(
        o, [s.LinearLR(o, start_factor=0.25, total_iters=4), s.CosineAnnealingLR(o, T_max=10)], milestones=[4]),
    "SequentialLR-3": lambda s, o: s.SequentialLR(
        o, [s.ConstantLR(o, factor=0.5, total_iters=2), s.ExponentialLR(o, gamma=0.8), s.StepLR(o, step_size=2)],
        milestones=[3, 8]),
    "ConstantLR": lambda s, o: s.ConstantLR(o, factor=0.25, total_iters=3),
}


def lr_sequence(opt_module, sched_module, make, params, steps=25):
    opt = opt_module.SGD([{"params": params[:1]}, {"params": params[1:], "lr": 0.05}], lr=0.1, momentum=0.9)
    sched = make(sched_module, opt)
    lrs = [sched.get_last_lr()]
    for _ in range(steps):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr())
        assert lrs[-1] == [g["lr"] for g in opt.param_groups]
    return lrs


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_lr_sequence_matches_torch(name):
    torch = pytest.importorskip("torch")
    import torch.optim.lr_scheduler as torch_sched
    t_params = [torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)]
    d_params = [nn.Parameter(dg.zeros(1)), nn.Parameter(dg.zeros(1))]
    expected = lr_sequence(torch.optim, torch_sched, SCHEDULES[name], t_params)
    got = lr_sequence(optim, lr_scheduler, SCHEDULES[name], d_params)
    assert len(got) == len(expected)
    for step, (g, e) in enumerate(zip(got, expected)):
        assert g == pytest.approx(e, rel=1e-12, abs=1e-15), f"step {step}"


def test_step_with_epoch_uses_the_closed_form():
    opt = optim.SGD([nn.Parameter(dg.zeros(1))], lr=1.0)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    sched.step(5)
    assert sched.get_last_lr()[0] == pytest.approx(0.5 * (1 + math.cos(math.pi * 5 / 10)))
    assert sched.last_epoch == 5


def test_state_dict_round_trip():
    params = [nn.Parameter(dg.zeros(1))]
    opt = optim.SGD(params, lr=1.0)
    sched = lr_scheduler.SequentialLR(opt, [lr_scheduler.LinearLR(opt, 0.5, total_iters=3),
                                            lr_scheduler.StepLR(opt, 2, 0.5)], milestones=[3])
    for _ in range(4):
        sched.step()
    saved = sched.state_dict()
    assert "optimizer" not in saved and len(saved["_schedulers"]) == 2
    later = [sched.step() or sched.get_last_lr()[0] for _ in range(5)]

    opt2 = optim.SGD([nn.Parameter(dg.zeros(1))], lr=1.0)
    sched2 = lr_scheduler.SequentialLR(opt2, [lr_scheduler.LinearLR(opt2, 0.5, total_iters=3),
                                              lr_scheduler.StepLR(opt2, 2, 0.5)], milestones=[3])
    sched2.load_state_dict(saved)
    opt2.param_groups[0]["lr"] = saved["_last_lr"][0]
    assert [sched2.step() or sched2.get_last_lr()[0] for _ in range(5)] == later


def test_chained_scheduler_state_dict_round_trip():
    def chained():
        opt = optim.SGD([nn.Parameter(dg.zeros(1))], lr=1.0)
        return opt, lr_scheduler.ChainedScheduler([lr_scheduler.ConstantLR(opt, 0.1, total_iters=2),
                                                   lr_scheduler.ExponentialLR(opt, 0.9)])
    opt, sched = chained()
    for _ in range(3):
        sched.step()
    saved = sched.state_dict()
    assert "optimizer" not in saved and len(saved["_schedulers"]) == 2
    later = [sched.step() or sched.get_last_lr()[0] for _ in range(3)]
    opt2, sched2 = chained()
    sched2.load_state_dict(saved)
    opt2.param_groups[0]["lr"] = opt.param_groups[0]["lr"] / 0.9 ** 3  # the lr when it was saved
    assert [sched2.step() or sched2.get_last_lr()[0] for _ in range(3)] == pytest.approx(later)


def test_lambda_state_dict_skips_plain_functions():
    opt = optim.SGD([nn.Parameter(dg.zeros(1))], lr=1.0)
    sched = lr_scheduler.LambdaLR(opt, lambda e: 0.5)
    assert sched.state_dict()["lr_lambdas"] == [None]


def test_resuming_needs_initial_lr():
    opt = optim.SGD([nn.Parameter(dg.zeros(1))], lr=1.0)
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(opt, 2, last_epoch=3)
    with pytest.raises(TypeError, match="not an Optimizer"):
        lr_scheduler.StepLR(object(), 2)
