"""The ``from torch.X import Y`` lines of PyTorch programs work with distgrad in torch's place,
and where PyTorch is installed the same names exist there."""
import importlib
import logging

import numpy as np
import pytest

import distgrad as dg

# (module under distgrad / torch, names a program imports from it)
LAYOUT = [
    ("utils.data", ["DataLoader", "Dataset", "TensorDataset", "DistributedSampler", "get_worker_info",
                    "Sampler", "RandomSampler", "Subset", "random_split"]),
    ("utils.data.dataloader", ["DataLoader", "default_collate", "get_worker_info"]),
    ("utils.data.distributed", ["DistributedSampler"]),
    ("utils.data.sampler", ["Sampler", "RandomSampler", "SequentialSampler", "BatchSampler"]),
    ("utils.data.dataset", ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split"]),
    ("nn.modules", ["Module", "Linear", "Conv2d", "ReLU", "Sequential", "CrossEntropyLoss", "BatchNorm2d"]),
    ("autograd", ["Function", "grad", "backward"]),
    ("autograd.function", ["Function", "FunctionCtx", "once_differentiable"]),
    ("accelerator", ["is_available", "device_count", "current_accelerator"]),
    ("backends", ["cudnn", "mps", "cuda"]),
    ("backends.cudnn", ["benchmark", "deterministic", "enabled", "is_available"]),
    ("backends.mps", ["is_available", "is_built"]),
    ("onnx", ["export"]),
    ("cuda", ["manual_seed_all", "manual_seed", "is_available", "device_count"]),
    ("", ["compile", "inference_mode", "no_grad", "manual_seed", "is_inference_mode_enabled"]),
    # torch.nn.modules' submodules, as programs import from them
    ("nn.modules.module", ["Module"]),
    ("nn.modules.loss", ["_Loss", "_WeightedLoss", "CrossEntropyLoss", "MSELoss", "BCEWithLogitsLoss"]),
    ("nn.modules.linear", ["Linear", "Identity"]),
    ("nn.modules.conv", ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]),
    ("nn.modules.activation", ["ReLU", "GELU", "Tanh", "Softmax", "SiLU", "Softplus", "PReLU", "MultiheadAttention"]),
    ("nn.modules.container", ["Sequential", "ModuleList", "ModuleDict"]),
    ("nn.modules.batchnorm", ["BatchNorm1d", "BatchNorm2d", "SyncBatchNorm", "_BatchNorm"]),
    ("nn.modules.normalization", ["LayerNorm", "GroupNorm"]),
    ("nn.modules.dropout", ["Dropout"]),
    ("nn.modules.pooling", ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"]),
    ("nn.modules.sparse", ["Embedding"]),
    ("nn.modules.flatten", ["Flatten", "Unflatten"]),
    ("nn.modules.padding", ["ZeroPad2d", "ConstantPad1d", "ReflectionPad2d", "ReplicationPad2d"]),
    ("nn.modules.pixelshuffle", ["PixelShuffle", "PixelUnshuffle"]),
    ("nn.modules.upsampling", ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"]),
    ("nn.modules.instancenorm", ["InstanceNorm1d", "InstanceNorm2d"]),
    ("nn.modules.rnn", ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "RNNBase"]),
    ("nn.modules.transformer", ["Transformer", "TransformerEncoder", "TransformerEncoderLayer",
                                "TransformerDecoder", "TransformerDecoderLayer"]),
    ("nn.parameter", ["Parameter"]),
    ("nn.init", ["constant_", "eye_", "kaiming_normal_", "kaiming_uniform_", "normal_", "ones_", "orthogonal_",
                 "trunc_normal_", "uniform_", "xavier_normal_", "xavier_uniform_", "zeros_", "calculate_gain"]),
    ("optim", ["SGD", "Adam", "AdamW", "LBFGS", "Optimizer", "lr_scheduler"]),
    ("optim.lr_scheduler", ["LRScheduler", "LambdaLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR",
                            "ExponentialLR", "SequentialLR", "CosineAnnealingLR", "ReduceLROnPlateau", "CyclicLR",
                            "OneCycleLR", "CosineAnnealingWarmRestarts", "MultiplicativeLR", "PolynomialLR",
                            "ChainedScheduler", "_LRScheduler"]),
    ("utils.data", ["IterableDataset", "ConcatDataset", "SequentialSampler", "BatchSampler", "SubsetRandomSampler",
                    "default_collate", "default_convert"]),
    ("multiprocessing", ["spawn", "start_processes", "ProcessContext", "ProcessRaisedException",
                         "ProcessExitedException", "Process", "Queue", "Pool", "get_context", "cpu_count",
                         "set_start_method", "get_sharing_strategy", "set_sharing_strategy"]),
]


def _join(package, module):
    return package + ("." + module if module else "")


@pytest.mark.parametrize("module,names", LAYOUT, ids=[m or "top" for m, _ in LAYOUT])
def test_from_import_lines_work(module, names):
    mod = importlib.import_module(_join("distgrad", module))
    missing = [n for n in names if not hasattr(mod, n)]
    assert not missing, f"distgrad.{module} lacks {missing}"


@pytest.mark.parametrize("module,names", LAYOUT, ids=[m or "top" for m, _ in LAYOUT])
def test_the_names_are_torchs(module, names):
    pytest.importorskip("torch")
    mod = importlib.import_module(_join("torch", module))
    assert [n for n in names if not hasattr(mod, n)] == []


def test_reexports_are_distgrads_own_classes():
    from distgrad.nn.modules import Linear
    from distgrad.utils.data.dataloader import DataLoader
    from distgrad.utils.data.distributed import DistributedSampler
    assert DataLoader is dg.data.DataLoader and DistributedSampler is dg.data.DistributedSampler
    assert Linear is dg.nn.Linear
    assert dg.utils.data.get_worker_info() is None


def test_accelerator_answers_as_torch():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available() != dg.cuda.is_available():
        pytest.skip("torch and distgrad see different GPUs")
    assert dg.accelerator.is_available() == torch.accelerator.is_available()
    assert dg.accelerator.device_count() == torch.accelerator.device_count()
    ours, theirs = dg.accelerator.current_accelerator(), torch.accelerator.current_accelerator()
    assert (ours is None) == (theirs is None)
    if ours is not None:
        assert ours.type == theirs.type


def test_backend_flags_are_kept_and_harmless():
    import distgrad.backends.cudnn as cudnn
    before = cudnn.benchmark, cudnn.deterministic
    try:
        cudnn.benchmark, cudnn.deterministic = True, True
        assert dg.backends.cudnn.benchmark and dg.backends.cudnn.deterministic
        x = dg.ones(2, 2, requires_grad=True)
        (x @ x).sum().backward()
        assert x.grad.tolist() == [[4.0, 4.0], [4.0, 4.0]]
    finally:
        cudnn.benchmark, cudnn.deterministic = before
    assert dg.backends.mps.is_available() is False
    dg.backends.cuda.matmul.allow_tf32 = dg.backends.cuda.matmul.allow_tf32


def test_onnx_export_says_what_to_use():
    with pytest.raises(NotImplementedError, match="torch.onnx.export"):
        dg.onnx.export(dg.nn.Linear(2, 2), dg.ones(1, 2), "model.onnx")


def test_compile_returns_the_model_and_says_so(caplog):
    model = dg.nn.Linear(2, 2)
    logger = logging.getLogger("distgrad")
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="distgrad"):
            assert dg.compile(model) is model
            assert dg.compile(mode="max-autotune")(model) is model
    finally:
        logger.removeHandler(caplog.handler)
    assert sum("nothing to compile" in r.getMessage() for r in caplog.records) == 2


def test_inference_mode_is_no_grad():
    x = dg.ones(2, requires_grad=True)
    with dg.inference_mode():
        assert not (x * 2).requires_grad
    with dg.inference_mode(False):
        assert (x * 2).requires_grad

    @dg.inference_mode
    def bare(t):
        return t * 2

    @dg.inference_mode()
    def called(t):
        return t * 2
    assert not bare(x).requires_grad and not called(x).requires_grad and dg.is_grad_enabled()


def test_cuda_manual_seed_all_without_a_gpu_is_harmless():
    state = dg.get_rng_state()
    dg.cuda.manual_seed_all(3)
    dg.cuda.manual_seed(3)
    assert dg.get_rng_state() == state


def test_inference_mode_enabled_as_torch():
    torch = pytest.importorskip("torch")
    seen = {}
    for lib in (torch, dg):
        flags = [lib.is_inference_mode_enabled()]
        with lib.inference_mode():
            flags.append(lib.is_inference_mode_enabled())
            with lib.inference_mode(False):
                flags.append(lib.is_inference_mode_enabled())
            flags.append(lib.is_inference_mode_enabled())
        with lib.no_grad():
            flags.append(lib.is_inference_mode_enabled())
        flags.append(lib.is_inference_mode_enabled())
        seen[lib.__name__] = flags
    assert seen["distgrad"] == seen["torch"] == [False, True, False, True, False, False]


def test_module_layout_names_are_distgrads_classes():
    from distgrad.nn.modules.loss import _Loss
    from distgrad.nn.modules.module import Module
    assert Module is dg.nn.Module and issubclass(dg.nn.MSELoss, _Loss)

    class Scaled(_Loss):  # a loss of one's own, written torch's way
        def forward(self, input, target):
            diff = (input - target).abs()
            return diff.mean() if self.reduction == "mean" else diff.sum()
    assert Scaled(reduction="sum")(dg.ones(3), dg.zeros(3)).item() == 3.0


@pytest.mark.parametrize("make", [
    lambda lib, opt: lib.optim.lr_scheduler.MultiplicativeLR(opt, lambda epoch: 0.9 if epoch % 2 else 0.8),
    lambda lib, opt: lib.optim.lr_scheduler.PolynomialLR(opt, total_iters=6, power=2.0),
    lambda lib, opt: lib.optim.lr_scheduler.ChainedScheduler(
        [lib.optim.lr_scheduler.ConstantLR(opt, factor=0.5, total_iters=3),
         lib.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)]),
], ids=["MultiplicativeLR", "PolynomialLR", "ChainedScheduler"])
def test_the_smaller_schedules_follow_torch(make):
    torch = pytest.importorskip("torch")
    seen = []
    for lib in (torch, dg):
        opt = lib.optim.SGD([{"params": [lib.zeros(1, requires_grad=True)]},
                             {"params": [lib.zeros(1, requires_grad=True)], "lr": 0.3}], lr=1.0)
        scheduler = make(lib, opt)
        lrs = []
        for step in range(9):
            lrs.append([g["lr"] for g in opt.param_groups] + scheduler.get_last_lr())
            opt.step()
            scheduler.step()
            if step == 4:  # resume from a state_dict midway
                state = scheduler.state_dict()
                scheduler.load_state_dict(state)
        seen.append(lrs)
    np.testing.assert_allclose(seen[1], seen[0], rtol=1e-13)
