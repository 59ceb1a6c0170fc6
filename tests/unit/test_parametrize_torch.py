"""Parametrizations, weight_norm and spectral_norm against PyTorch: the same module in both
(float64, same weights, PyTorch's power-iteration vectors copied over) gives the same weights,
outputs, gradients, buffers and state_dict keys; PyTorch checkpoints load."""
import copy
import pickle
import warnings

import numpy as np
import pytest

import distgrad as dg
import distgrad.nn as nn
from distgrad.nn.utils import parametrize

torch = pytest.importorskip("torch")
tnn = torch.nn

RNG = np.random.default_rng(7)


def pair(make_torch, make_dg):
    """The same layer in both frameworks, float64, with PyTorch's initial weights."""
    torch_module, dg_module = make_torch().double(), make_dg().double()
    dg_module.load_state_dict(as_arrays(torch_module.state_dict()))
    return torch_module, dg_module


def as_arrays(state_dict):
    return {key: value.detach().numpy().copy() for key, value in state_dict.items()}


def assert_close(dg_value, torch_value, what=""):
    np.testing.assert_allclose(dg_value.detach().numpy(), torch_value.detach().numpy(), rtol=1e-10, atol=1e-12,
                               err_msg=what)


def copy_state_into_dg(torch_module, dg_module):
    """Everything PyTorch holds (parameters and the random u/v vectors) into the distgrad module."""
    result = dg_module.load_state_dict(as_arrays(torch_module.state_dict()))
    assert not result.missing_keys and not result.unexpected_keys


def forward_backward(torch_module, dg_module, x):
    """One forward and backward with the same input and upstream gradient; compare outputs and
    every parameter's gradient (by PyTorch's names)."""
    ty, dy = torch_module(torch.tensor(x)), dg_module(dg.tensor(x))
    assert_close(dy, ty, "output")
    upstream = RNG.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(upstream))
    dy.backward(dg.tensor(upstream))
    torch_params, dg_params = dict(torch_module.named_parameters()), dict(dg_module.named_parameters())
    assert list(dg_params) == list(torch_params)
    for name, param in torch_params.items():
        assert_close(dg_params[name].grad, param.grad, name)


LAYERS = {
    "linear": (lambda: tnn.Linear(5, 4), lambda: nn.Linear(5, 4), (3, 5)),
    "conv1d": (lambda: tnn.Conv1d(2, 3, 4), lambda: nn.Conv1d(2, 3, 4), (2, 2, 9)),
    "conv2d": (lambda: tnn.Conv2d(2, 3, 3), lambda: nn.Conv2d(2, 3, 3), (2, 2, 6, 6)),
    "convtranspose2d": (lambda: tnn.ConvTranspose2d(3, 2, 3), lambda: nn.ConvTranspose2d(3, 2, 3), (2, 3, 4, 4)),
}


# ----------------------------------------------------------------- weight_norm (parametrization)
@pytest.mark.parametrize("layer", ["linear", "conv1d", "convtranspose2d"])
@pytest.mark.parametrize("dim", [0, 1, None, -2])
def test_weight_norm_parametrization_matches_torch(layer, dim):
    make_torch, make_dg, shape = LAYERS[layer]
    torch_module, dg_module = pair(make_torch, make_dg)
    tnn.utils.parametrizations.weight_norm(torch_module, dim=dim)
    nn.utils.parametrizations.weight_norm(dg_module, dim=dim)
    assert list(dg_module.state_dict()) == list(torch_module.state_dict())
    for key, value in torch_module.state_dict().items():
        assert_close(dg_module.state_dict()[key], value, key)  # g and v as PyTorch derives them
    assert_close(dg_module.weight, torch_module.weight, "weight")
    forward_backward(torch_module, dg_module, RNG.standard_normal(shape))
    assert type(dg_module).__name__ == type(torch_module).__name__ == f"Parametrized{type(make_dg()).__name__}"


def test_weight_norm_parametrization_follows_g_and_v():
    torch_module, dg_module = pair(*LAYERS["linear"][:2])
    tnn.utils.parametrizations.weight_norm(torch_module)
    nn.utils.parametrizations.weight_norm(dg_module)
    with torch.no_grad():
        torch_module.parametrizations.weight.original0.mul_(3.0)
    dg_module.parametrizations.weight.original0.array *= 3.0
    assert_close(dg_module.weight, torch_module.weight)
    row_norms = np.linalg.norm(dg_module.weight.detach().numpy(), axis=1)
    np.testing.assert_allclose(row_norms, dg_module.parametrizations.weight.original0.detach().numpy().ravel())


# ----------------------------------------------------------------- weight_norm (older, hook)
@pytest.mark.parametrize("layer", ["linear", "conv1d", "convtranspose2d"])
@pytest.mark.parametrize("dim", [0, 1, None])
def test_old_weight_norm_matches_torch(layer, dim):
    make_torch, make_dg, shape = LAYERS[layer]
    torch_module, dg_module = pair(make_torch, make_dg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        tnn.utils.weight_norm(torch_module, dim=dim)
    with pytest.warns(FutureWarning, match="parametrizations.weight_norm"):
        nn.utils.weight_norm(dg_module, dim=dim)
    assert list(dg_module.state_dict()) == list(torch_module.state_dict())  # bias, weight_g, weight_v
    assert_close(dg_module.weight_g, torch_module.weight_g, "weight_g")
    forward_backward(torch_module, dg_module, RNG.standard_normal(shape))


def test_old_weight_norm_recomputes_weight_before_each_forward():
    module = nn.Linear(3, 2).double()
    with pytest.warns(FutureWarning):
        nn.utils.weight_norm(module)
    module.weight_g.array[...] = 2.0
    module(dg.tensor(np.ones((1, 3))))
    np.testing.assert_allclose(np.linalg.norm(module.weight.detach().numpy(), axis=1), [2.0, 2.0])


def test_old_weight_norm_twice_and_remove_unknown_raise():
    module = nn.Linear(3, 2)
    with pytest.warns(FutureWarning):
        nn.utils.weight_norm(module)
        with pytest.raises(RuntimeError, match="two weight_norm hooks"):
            nn.utils.weight_norm(module)
    with pytest.raises(ValueError, match="weight_norm of 'bias' not found"):
        nn.utils.remove_weight_norm(module, "bias")


# ----------------------------------------------------------------- spectral_norm
def copy_power_vectors(torch_module, dg_module, prefix):
    """PyTorch's random u/v into distgrad, so the power iterations run from the same start."""
    state = as_arrays(torch_module.state_dict())
    for suffix in ("u", "v"):
        key = prefix + suffix
        dg_module.get_buffer(key).array[...] = state[key]


def spectral_norm_case(layer, old_form, n_power_iterations):
    make_torch, make_dg, shape = LAYERS[layer]
    torch_module, dg_module = pair(make_torch, make_dg)
    if old_form:
        tnn.utils.spectral_norm(torch_module, n_power_iterations=n_power_iterations)
        nn.utils.spectral_norm(dg_module, n_power_iterations=n_power_iterations)
        copy_power_vectors(torch_module, dg_module, "weight_")
    else:
        tnn.utils.parametrizations.spectral_norm(torch_module, n_power_iterations=n_power_iterations)
        nn.utils.parametrizations.spectral_norm(dg_module, n_power_iterations=n_power_iterations)
        copy_power_vectors(torch_module, dg_module, "parametrizations.weight.0._")
    return torch_module, dg_module, shape


@pytest.mark.parametrize("old_form", [False, True], ids=["parametrization", "hook"])
@pytest.mark.parametrize("layer", ["linear", "conv2d", "convtranspose2d"])
def test_spectral_norm_matches_torch_over_training_forwards(layer, old_form):
    torch_module, dg_module, shape = spectral_norm_case(layer, old_form, n_power_iterations=2)
    assert list(dg_module.state_dict()) == list(torch_module.state_dict())
    original = "weight_orig" if old_form else "parametrizations.weight.original"
    for _ in range(3):  # each training-mode forward moves u and v
        for module in (torch_module, dg_module):
            module.zero_grad()
        forward_backward(torch_module, dg_module, RNG.standard_normal(shape))
        for key, value in torch_module.state_dict().items():
            assert_close(dg_module.state_dict()[key], value, key)
        assert_close(dg_module.weight, torch_module.weight, "weight")
    weight, orig = dg_module.weight.detach().numpy(), dg_module.get_parameter(original).detach().numpy()
    sigma = orig.ravel()[0] / weight.ravel()[0]
    torch_sigma = (torch_module.get_parameter(original).detach().numpy().ravel()[0]
                   / torch_module.weight.detach().numpy().ravel()[0])
    np.testing.assert_allclose(sigma, torch_sigma, rtol=1e-10)


@pytest.mark.parametrize("old_form", [False, True], ids=["parametrization", "hook"])
def test_spectral_norm_eval_mode_leaves_u_v(old_form):
    torch_module, dg_module, shape = spectral_norm_case("linear", old_form, n_power_iterations=1)
    torch_module.eval()
    dg_module.eval()
    before = as_arrays(torch_module.state_dict())
    x = RNG.standard_normal(shape)
    for _ in range(2):
        assert_close(dg_module(dg.tensor(x)), torch_module(torch.tensor(x)))
    for key, value in dg_module.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), before[key], err_msg=key)


def test_spectral_norm_of_converged_u_v_is_the_largest_singular_value():
    module = nn.utils.parametrizations.spectral_norm(nn.Linear(6, 4).double(), n_power_iterations=50)
    module.weight  # a training-mode access iterates
    np.testing.assert_allclose(np.linalg.svd(module.weight.detach().numpy(), compute_uv=False)[0], 1.0)


def test_spectral_norm_of_a_vector_normalizes_it():
    torch_module, dg_module = pair(*LAYERS["linear"][:2])
    tnn.utils.parametrizations.spectral_norm(torch_module, "bias")
    nn.utils.parametrizations.spectral_norm(dg_module, "bias")
    assert list(dg_module.state_dict()) == list(torch_module.state_dict())
    assert_close(dg_module.bias, torch_module.bias)


# ----------------------------------------------------------------- checkpoints
@pytest.mark.parametrize("apply", ["weight_norm", "spectral_norm"])
def test_torch_state_dict_loads_into_parametrized_module(apply):
    make_torch, make_dg, shape = LAYERS["conv2d"]
    torch_module, dg_module = make_torch().double(), make_dg().double()
    getattr(tnn.utils.parametrizations, apply)(torch_module)
    getattr(nn.utils.parametrizations, apply)(dg_module)
    x = RNG.standard_normal(shape)
    torch_module(torch.tensor(x))  # spectral norm: u and v move away from their start
    torch_module.eval()
    dg_module.eval()
    copy_state_into_dg(torch_module, dg_module)
    assert_close(dg_module(dg.tensor(x)), torch_module(torch.tensor(x)))


def test_torch_state_dict_of_old_spectral_norm_loads():
    torch_module, dg_module = pair(*LAYERS["linear"][:2])
    tnn.utils.spectral_norm(torch_module)
    nn.utils.spectral_norm(dg_module)
    x = RNG.standard_normal((3, 5))
    torch_module(torch.tensor(x))
    copy_state_into_dg(torch_module, dg_module)
    torch_module.eval()
    dg_module.eval()
    assert_close(dg_module(dg.tensor(x)), torch_module(torch.tensor(x)))


# ----------------------------------------------------------------- remove_*
REMOVALS = {
    "parametrizations.weight_norm": (
        lambda m: tnn.utils.parametrizations.weight_norm(m), lambda m: nn.utils.parametrizations.weight_norm(m),
        lambda m: tnn.utils.parametrize.remove_parametrizations(m, "weight"),
        lambda m: nn.utils.parametrize.remove_parametrizations(m, "weight")),
    "parametrizations.spectral_norm": (
        lambda m: tnn.utils.parametrizations.spectral_norm(m), lambda m: nn.utils.parametrizations.spectral_norm(m),
        lambda m: tnn.utils.parametrize.remove_parametrizations(m, "weight"),
        lambda m: nn.utils.parametrize.remove_parametrizations(m, "weight")),
    "weight_norm": (lambda m: tnn.utils.weight_norm(m), lambda m: nn.utils.weight_norm(m),
                    tnn.utils.remove_weight_norm, nn.utils.remove_weight_norm),
    "spectral_norm": (lambda m: tnn.utils.spectral_norm(m), lambda m: nn.utils.spectral_norm(m),
                      tnn.utils.remove_spectral_norm, nn.utils.remove_spectral_norm),
}


@pytest.mark.parametrize("kind", list(REMOVALS))
def test_remove_leaves_a_plain_parameter_with_the_current_value(kind):
    apply_torch, apply_dg, remove_torch, remove_dg = REMOVALS[kind]
    torch_module, dg_module = pair(*LAYERS["linear"][:2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        apply_torch(torch_module)
        apply_dg(dg_module)
    copy_state_into_dg(torch_module, dg_module)
    x = RNG.standard_normal((3, 5))
    for module, tensor in ((torch_module, torch.tensor), (dg_module, dg.tensor)):
        module.eval()  # the value remove_* keeps is the eval-mode one
        module(tensor(x))  # the hook forms set .weight before a forward
    expected = dg_module.weight.detach().numpy().copy()
    remove_torch(torch_module)
    remove_dg(dg_module)
    assert type(dg_module) is nn.Linear
    assert isinstance(dg_module.weight, nn.Parameter) and dg_module.weight.requires_grad
    np.testing.assert_allclose(dg_module.weight.detach().numpy(), expected)
    assert_close(dg_module.weight, torch_module.weight)
    assert list(dg_module.state_dict()) == list(torch_module.state_dict())
    assert not dg_module._forward_pre_hooks


def test_remove_parametrizations_without_leaving_parametrized():
    module = nn.Linear(4, 3).double()
    nn.utils.parametrizations.spectral_norm(module)
    original = module.parametrizations.weight.original
    values = original.detach().numpy().copy()
    parametrize.remove_parametrizations(module, "weight", leave_parametrized=False)
    assert module.weight is original
    np.testing.assert_array_equal(module.weight.detach().numpy(), values)
    nn.utils.parametrizations.weight_norm(module)
    with pytest.raises(ValueError, match="leave unparametrized"):
        parametrize.remove_parametrizations(module, "weight", leave_parametrized=False)


# ----------------------------------------------------------------- register_parametrization
def parametrizations_on(library):
    """The same two parametrizations as modules of ``library``'s nn (distgrad's or PyTorch's)."""
    class Symmetric(library.Module):
        def forward(self, x):
            return x.triu() + x.triu(1).transpose(0, 1)

        def right_inverse(self, a):
            return a.triu()

    class Scale(library.Module):
        def forward(self, x):
            return 2.0 * x

        def right_inverse(self, a):
            return a / 2.0

    return Symmetric, Scale


Symmetric, Scale = parametrizations_on(nn)
TorchSymmetric, TorchScale = parametrizations_on(tnn)


def test_chained_parametrizations_and_assignment_match_torch():
    torch_module, dg_module = pair(lambda: tnn.Linear(3, 3), lambda: nn.Linear(3, 3))
    for module, first, second, register in ((torch_module, TorchSymmetric(), TorchScale(),
                                             tnn.utils.parametrize.register_parametrization),
                                            (dg_module, Symmetric(), Scale(), parametrize.register_parametrization)):
        register(module, "weight", first)
        register(module, "weight", second)
    assert list(dg_module.state_dict()) == list(torch_module.state_dict()) == ["bias", "parametrizations.weight.original"]
    assert_close(dg_module.weight, torch_module.weight)
    target = RNG.standard_normal((3, 3))
    target = target + target.T
    torch_module.weight = torch.tensor(target)  # right_inverse: Scale's, then Symmetric's
    dg_module.weight = dg.tensor(target)
    np.testing.assert_allclose(dg_module.weight.detach().numpy(), target)
    assert_close(dg_module.parametrizations.weight.original, torch_module.parametrizations.weight.original)
    forward_backward(torch_module, dg_module, RNG.standard_normal((2, 3)))


def test_register_checks_shape_unless_unsafe():
    class Transposed(nn.Module):
        def forward(self, x):
            return x.transpose(0, 1)

    with pytest.raises(ValueError, match="may not change the shape"):
        parametrize.register_parametrization(nn.Linear(3, 2), "weight", Transposed())
    module = parametrize.register_parametrization(nn.Linear(3, 2), "weight", Transposed(), unsafe=True)
    assert tuple(module.weight.shape) == (3, 2)


def test_is_parametrized_type_before_and_other_instances_untouched():
    module, other = nn.Linear(3, 3), nn.Linear(3, 3)
    assert not parametrize.is_parametrized(module)
    parametrize.register_parametrization(module, "weight", Symmetric())
    assert parametrize.is_parametrized(module) and parametrize.is_parametrized(module, "weight")
    assert not parametrize.is_parametrized(module, "bias")
    assert parametrize.type_before_parametrizations(module) is nn.Linear
    assert type(other) is nn.Linear and isinstance(other.weight, nn.Parameter)  # the property is per module
    with pytest.raises(ValueError, match="does not have a parametrization on bias"):
        parametrize.remove_parametrizations(module, "bias")


def test_cached_computes_each_parametrized_tensor_once():
    calls = []

    class Counting(nn.Module):
        def forward(self, x):
            calls.append(1)
            return x * 1.0

    module = parametrize.register_parametrization(nn.Linear(2, 2), "weight", Counting())
    calls.clear()
    with parametrize.cached():
        first, second = module.weight, module.weight
    assert first is second and len(calls) == 1
    module.weight
    assert len(calls) == 2


def test_deepcopy_works_and_pickle_refuses_as_torch():
    module = nn.utils.parametrizations.weight_norm(nn.Linear(3, 2))
    replica = copy.deepcopy(module)
    replica.parametrizations.weight.original0.array[...] = 5.0
    assert not np.allclose(module.weight.detach().numpy(), replica.weight.detach().numpy())
    with pytest.raises(RuntimeError, match="only supported through state_dict"):
        pickle.dumps(module)


def test_module_to_moves_the_originals():
    module = nn.utils.parametrizations.spectral_norm(nn.Linear(3, 2)).double()
    assert module.weight.dtype == np.float64
    assert module.parametrizations.weight[0]._u.dtype == np.float64


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize("apply, error", [
    (lambda m: nn.utils.parametrizations.weight_norm(m, "nope"), ValueError),
    (lambda m: nn.utils.parametrizations.spectral_norm(m, "nope"), ValueError),
    (lambda m: nn.utils.weight_norm(m, "nope"), AttributeError),
    (lambda m: nn.utils.spectral_norm(m, "nope"), KeyError),
], ids=["parametrizations.weight_norm", "parametrizations.spectral_norm", "weight_norm", "spectral_norm"])
def test_bad_name_names_the_function(apply, error):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        with pytest.raises(error) as raised:
            apply(nn.Linear(3, 2))
    function = "spectral_norm" if "spectral" in str(raised.value) else "weight_norm"
    assert f"{function}:" in str(raised.value) and "'nope'" in str(raised.value)


@pytest.mark.parametrize("apply, function", [
    (lambda m: nn.utils.parametrizations.weight_norm(m, dim=5), "weight_norm"),
    (lambda m: nn.utils.parametrizations.spectral_norm(m, dim=5), "spectral_norm"),
    (lambda m: nn.utils.weight_norm(m, dim=5), "weight_norm"),
    (lambda m: nn.utils.spectral_norm(m, dim=-3), "spectral_norm"),
])
def test_bad_dim_raises_index_error_naming_the_function(apply, function):
    module = nn.Linear(3, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        with pytest.raises(IndexError, match=f"{function}: dim=-?[0-9] is out of range"):
            apply(module)
    assert type(module) is nn.Linear and isinstance(module.weight, nn.Parameter)  # left as it was


def test_bad_power_iterations_raises():
    with pytest.raises(ValueError, match="n_power_iterations to be positive"):
        nn.utils.parametrizations.spectral_norm(nn.Linear(3, 2), n_power_iterations=0)


# ----------------------------------------------------------------- a GAN discriminator
def discriminators():
    def torch_model():
        sn = tnn.utils.parametrizations.spectral_norm
        return tnn.Sequential(sn(tnn.Conv2d(1, 4, 3, stride=2)), tnn.LeakyReLU(0.2), tnn.Flatten(),
                              sn(tnn.Linear(4 * 3 * 3, 1)))

    def dg_model():
        sn = nn.utils.parametrizations.spectral_norm
        return nn.Sequential(sn(nn.Conv2d(1, 4, 3, stride=2)), nn.LeakyReLU(0.2), nn.Flatten(),
                             sn(nn.Linear(4 * 3 * 3, 1)))

    torch_module, dg_module = torch_model().double(), dg_model().double()
    copy_state_into_dg(torch_module, dg_module)
    return torch_module, dg_module


def test_spectral_norm_discriminator_trains_as_torch():
    torch_module, dg_module = discriminators()
    torch_optimizer = torch.optim.SGD(torch_module.parameters(), lr=0.1)
    dg_optimizer = dg.optim.SGD(dg_module.parameters(), lr=0.1)
    images = RNG.standard_normal((6, 1, 8, 8))
    labels = (RNG.random((6, 1)) > 0.5).astype(np.float64)
    losses = []
    for _ in range(3):
        torch_optimizer.zero_grad()
        dg_optimizer.zero_grad()
        torch_loss = tnn.BCEWithLogitsLoss()(torch_module(torch.tensor(images)), torch.tensor(labels))
        dg_loss = nn.BCEWithLogitsLoss()(dg_module(dg.tensor(images)), dg.tensor(labels))
        torch_loss.backward()
        dg_loss.backward()
        torch_optimizer.step()
        dg_optimizer.step()
        losses.append((dg_loss.item(), torch_loss.item()))
    np.testing.assert_allclose(*zip(*losses), rtol=1e-10)
    assert losses[0][0] != losses[-1][0]  # the steps did change the discriminator
    for key, value in torch_module.state_dict().items():
        assert_close(dg_module.state_dict()[key], value, key)
