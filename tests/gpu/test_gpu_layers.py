"""Every layer and loss of distgrad.nn on the GPU gives the CPU's outputs, input gradients,
parameter gradients and buffers (float32 on both sides), from the same weights."""
import copy

import numpy as np
import pytest

import distgrad as dg
import distgrad.nn as nn
from gpu_support import GPU_ONLY, assert_matches_cpu, upstream_like

pytestmark = GPU_ONLY

IMAGE = (2, 4, 9, 9)
# (name, layer factory, input shape, or a function of a NumPy Generator giving the input)
LAYERS = [
    ("Linear", lambda: nn.Linear(5, 3), (4, 5)),
    ("Linear_3d_no_bias", lambda: nn.Linear(5, 3, bias=False), (2, 4, 5)),
    ("Conv2d", lambda: nn.Conv2d(4, 6, 3), IMAGE),
    ("Conv2d_stride_padding", lambda: nn.Conv2d(4, 6, 3, stride=2, padding=1), IMAGE),
    ("Conv2d_dilation_same", lambda: nn.Conv2d(4, 6, 3, padding="same", dilation=2), IMAGE),
    ("Conv2d_groups", lambda: nn.Conv2d(4, 6, 3, groups=2, bias=False), IMAGE),
    ("MaxPool2d", lambda: nn.MaxPool2d(2), IMAGE),
    ("MaxPool2d_ceil", lambda: nn.MaxPool2d(3, stride=2, ceil_mode=True), IMAGE),
    ("AvgPool2d", lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), IMAGE),
    ("AdaptiveAvgPool2d", lambda: nn.AdaptiveAvgPool2d((2, 3)), IMAGE),
    ("BatchNorm1d", lambda: nn.BatchNorm1d(3), (6, 3)),
    ("BatchNorm1d_3d", lambda: nn.BatchNorm1d(3), (6, 3, 5)),
    ("BatchNorm2d", lambda: nn.BatchNorm2d(4), IMAGE),
    ("LayerNorm", lambda: nn.LayerNorm((4, 5)), (3, 4, 5)),
    ("Embedding", lambda: nn.Embedding(7, 3, padding_idx=2),
     lambda rng: rng.integers(0, 7, (4, 5))),
    ("Dropout_eval", lambda: nn.Dropout(0.5).eval(), (3, 4)),
    ("Flatten", lambda: nn.Flatten(), IMAGE),
    ("ReLU", lambda: nn.ReLU(), (3, 4)),
    ("LeakyReLU", lambda: nn.LeakyReLU(0.2), (3, 4)),
    ("GELU", lambda: nn.GELU(), (3, 4)),
    ("GELU_tanh", lambda: nn.GELU("tanh"), (3, 4)),
    ("Tanh", lambda: nn.Tanh(), (3, 4)),
    ("Sigmoid", lambda: nn.Sigmoid(), (3, 4)),
    ("Softmax", lambda: nn.Softmax(dim=1), (3, 4)),
    ("LogSoftmax", lambda: nn.LogSoftmax(dim=-1), (3, 4)),
    ("Sequential_CNN", lambda: nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4 * 4 * 4, 10), nn.LogSoftmax(dim=1)), (5, 1, 8, 8)),
]
SIGNAL = (2, 4, 11)
BAG_INDICES = lambda rng: rng.integers(0, 7, (3, 4))  # noqa: E731  (bags of 4 rows of a 7-row table)
# the layers that came later: one-dimensional and transposed convolutions, group and instance
# norms, resizing, padding, shuffles, bags and the further activations
LAYERS += [
    ("Conv1d", lambda: nn.Conv1d(4, 6, 3, padding=1), SIGNAL),
    ("Conv1d_stride_dilation_groups", lambda: nn.Conv1d(4, 6, 3, stride=2, dilation=2, groups=2), SIGNAL),
    ("Conv2d_reflect", lambda: nn.Conv2d(4, 3, 3, padding=1, padding_mode="reflect"), IMAGE),
    ("Conv2d_circular", lambda: nn.Conv2d(4, 3, 3, padding=2, padding_mode="circular"), IMAGE),
    ("ConvTranspose1d", lambda: nn.ConvTranspose1d(4, 3, 3, stride=2, padding=1, output_padding=1), SIGNAL),
    ("ConvTranspose2d", lambda: nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1), IMAGE),
    ("ConvTranspose2d_groups_dilation", lambda: nn.ConvTranspose2d(4, 6, 2, stride=3, groups=2, dilation=2,
                                                                   output_padding=1), IMAGE),
    ("MaxPool1d", lambda: nn.MaxPool1d(3, stride=2), SIGNAL),
    ("AvgPool1d", lambda: nn.AvgPool1d(3, stride=2, padding=1), SIGNAL),
    ("AdaptiveAvgPool1d", lambda: nn.AdaptiveAvgPool1d(4), SIGNAL),
    ("AdaptiveMaxPool1d", lambda: nn.AdaptiveMaxPool1d(4), SIGNAL),
    ("AdaptiveMaxPool2d", lambda: nn.AdaptiveMaxPool2d((4, 3)), IMAGE),
    ("GroupNorm", lambda: nn.GroupNorm(2, 4), IMAGE),
    ("GroupNorm_no_affine", lambda: nn.GroupNorm(4, 4, affine=False), SIGNAL),
    ("InstanceNorm1d_affine_stats", lambda: nn.InstanceNorm1d(4, affine=True, track_running_stats=True), SIGNAL),
    ("InstanceNorm2d", lambda: nn.InstanceNorm2d(4), IMAGE),
    ("Upsample_nearest", lambda: nn.Upsample(scale_factor=2), IMAGE),
    ("Upsample_bilinear", lambda: nn.Upsample(size=(13, 7), mode="bilinear"), IMAGE),
    ("Upsample_bilinear_corners", lambda: nn.Upsample(scale_factor=1.5, mode="bilinear", align_corners=True),
     IMAGE),
    ("Upsample_linear", lambda: nn.Upsample(scale_factor=2, mode="linear"), SIGNAL),
    ("PixelShuffle", lambda: nn.PixelShuffle(2), (2, 8, 3, 5)),
    ("PixelUnshuffle", lambda: nn.PixelUnshuffle(3), IMAGE),
    ("ReflectionPad2d", lambda: nn.ReflectionPad2d((1, 2, 0, 3)), IMAGE),
    ("ReplicationPad1d", lambda: nn.ReplicationPad1d(2), SIGNAL),
    ("CircularPad2d", lambda: nn.CircularPad2d(2), IMAGE),
    ("ConstantPad1d", lambda: nn.ConstantPad1d((1, 3), 0.5), SIGNAL),
    ("EmbeddingBag_mean", lambda: nn.EmbeddingBag(7, 3), BAG_INDICES),
    ("EmbeddingBag_sum_padding", lambda: nn.EmbeddingBag(7, 3, mode="sum", padding_idx=1), BAG_INDICES),
    ("EmbeddingBag_max", lambda: nn.EmbeddingBag(7, 3, mode="max"), BAG_INDICES),
    ("Unflatten", lambda: nn.Unflatten(1, (2, 2)), (3, 4)),
    ("PReLU", lambda: nn.PReLU(4), IMAGE),
    ("GLU", lambda: nn.GLU(dim=1), IMAGE),
] + [(name, getattr(nn, name), (3, 4)) for name in (
    "SiLU", "Mish", "ELU", "SELU", "CELU", "Softplus", "Hardtanh", "ReLU6", "Hardswish", "Hardsigmoid",
    "LogSigmoid", "Softsign", "Tanhshrink")] + [("Softmin", lambda: nn.Softmin(dim=0), (3, 4))]

TARGET = np.array([0, 3, 1, 1, 2, 3])
WEIGHT = np.array([1.0, 2.0, 0.5, 1.5], np.float32)
# (name, loss factory, target: class indices, or None for a float target like the input)
LOSSES = [
    ("CrossEntropyLoss", lambda: nn.CrossEntropyLoss(), TARGET),
    ("CrossEntropyLoss_sum", lambda: nn.CrossEntropyLoss(reduction="sum"), TARGET),
    ("CrossEntropyLoss_none", lambda: nn.CrossEntropyLoss(reduction="none"), TARGET),
    ("CrossEntropyLoss_ignore", lambda: nn.CrossEntropyLoss(ignore_index=1), TARGET),
    ("CrossEntropyLoss_weight", lambda: nn.CrossEntropyLoss(weight=dg.tensor(WEIGHT)), TARGET),
    ("CrossEntropyLoss_smoothing", lambda: nn.CrossEntropyLoss(label_smoothing=0.1), TARGET),
    ("NLLLoss", lambda: nn.NLLLoss(), TARGET),
    ("NLLLoss_none", lambda: nn.NLLLoss(reduction="none"), TARGET),
    ("MSELoss", lambda: nn.MSELoss(), None),
    ("MSELoss_sum", lambda: nn.MSELoss(reduction="sum"), None),
    ("L1Loss", lambda: nn.L1Loss(), None),
    ("SmoothL1Loss", lambda: nn.SmoothL1Loss(beta=0.5), None),
    ("HuberLoss_none", lambda: nn.HuberLoss(reduction="none", delta=0.7), None),
    ("BCEWithLogitsLoss", lambda: nn.BCEWithLogitsLoss(pos_weight=dg.tensor(WEIGHT)), "probabilities"),
    ("BCELoss", lambda: nn.BCELoss(), "probabilities"),
    ("KLDivLoss_batchmean", lambda: nn.KLDivLoss(reduction="batchmean"), "probabilities"),
]


def both(factory):
    """The layer built once (seeded) on the CPU, and an exact copy moved to the GPU."""
    dg.manual_seed(0)
    cpu = factory()
    gpu = copy.deepcopy(cpu).to("cuda")
    return cpu, gpu


def inputs_for(spec, rng):
    if callable(spec):
        return dg.tensor(spec(rng)), False
    return dg.tensor(rng.standard_normal(spec).astype(np.float32), requires_grad=True), True


@pytest.mark.parametrize("name,factory,spec", LAYERS, ids=[n for n, _, _ in LAYERS])
def test_layer_on_gpu_matches_cpu(name, factory, spec):
    cpu_layer, gpu_layer = both(factory)
    x_cpu, differentiable = inputs_for(spec, np.random.default_rng(0))
    x_gpu = dg.tensor(x_cpu.detach().numpy(), device="cuda", requires_grad=differentiable)
    y_cpu, y_gpu = cpu_layer(x_cpu), gpu_layer(x_gpu)
    assert_matches_cpu(y_gpu, y_cpu, f"{name} output")
    (seed,) = upstream_like([y_cpu], 1)
    y_cpu.backward(dg.tensor(seed))
    y_gpu.backward(dg.tensor(seed, device="cuda"))
    if differentiable:
        assert_matches_cpu(x_gpu.grad, x_cpu.grad, f"{name} input gradient")
    gpu_params = dict(gpu_layer.named_parameters())
    for key, p in cpu_layer.named_parameters():
        assert_matches_cpu(gpu_params[key].grad, p.grad, f"{name} gradient of {key}")
    gpu_state = gpu_layer.state_dict()
    for key, value in cpu_layer.state_dict().items():  # BatchNorm's running statistics included
        assert_matches_cpu(gpu_state[key], value, f"{name} state {key}")


@pytest.mark.parametrize("name,factory,target", LOSSES, ids=[n for n, _, _ in LOSSES])
def test_loss_on_gpu_matches_cpu(name, factory, target):
    cpu_loss, gpu_loss = both(factory)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    if target is None:
        target = rng.standard_normal((6, 4)).astype(np.float32)
    elif isinstance(target, str):  # "probabilities"
        target = rng.uniform(0.05, 0.95, (6, 4)).astype(np.float32)
    if name.startswith(("NLLLoss", "KLDivLoss")):
        x = x - np.log(np.exp(x).sum(1, keepdims=True))  # log-probabilities
    x_cpu, x_gpu = dg.tensor(x, requires_grad=True), dg.tensor(x, device="cuda", requires_grad=True)
    squash = dg.sigmoid if name == "BCELoss" else (lambda t: t)  # BCELoss takes probabilities
    out_cpu = cpu_loss(squash(x_cpu), dg.tensor(target))
    out_gpu = gpu_loss(squash(x_gpu), dg.tensor(target, device="cuda"))
    assert_matches_cpu(out_gpu, out_cpu, f"{name} value")
    (seed,) = upstream_like([out_cpu], 3)
    out_cpu.backward(dg.tensor(seed))
    out_gpu.backward(dg.tensor(seed, device="cuda"))
    assert_matches_cpu(x_gpu.grad, x_cpu.grad, f"{name} input gradient")
