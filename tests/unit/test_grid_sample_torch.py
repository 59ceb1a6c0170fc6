"""affine_grid and grid_sample against PyTorch: values and gradients (input, grid, theta) for
every mode, padding mode and align_corners, with sampling points inside and outside the input."""
import itertools

import numpy as np
import pytest

import distgrad as dg
import distgrad.nn.functional as F
from distgrad.errors import OpNotImplementedError, OpRuntimeError, OpValueError

torch = pytest.importorskip("torch")


def both(array):
    return dg.tensor(array, requires_grad=True), torch.tensor(array, requires_grad=True)


@pytest.mark.parametrize("mode, padding_mode, align_corners",
                         list(itertools.product(["bilinear", "nearest"], ["zeros", "border", "reflection"],
                                                [False, True])))
def test_grid_sample_values_and_gradients_match_torch(mode, padding_mode, align_corners):
    rng = np.random.default_rng(hash((mode, padding_mode, align_corners)) % 2**32)
    image = rng.standard_normal((2, 3, 5, 4))
    points = rng.uniform(-1.6, 1.6, (2, 3, 6, 2))  # a third of them outside [-1, 1]
    mine, theirs = both(image)
    grid_mine, grid_theirs = both(points)
    out = F.grid_sample(mine, grid_mine, mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    expected = torch.nn.functional.grid_sample(theirs, grid_theirs, mode=mode, padding_mode=padding_mode,
                                               align_corners=align_corners)
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    weights = rng.standard_normal(tuple(expected.shape))
    (out * dg.tensor(weights)).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)
    if mode == "bilinear":
        np.testing.assert_allclose(grid_mine.grad.numpy(), grid_theirs.grad.numpy(), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("size", [(2, 3, 4, 5), (1, 1, 1, 3)])
def test_affine_grid_and_its_gradient_match_torch(align_corners, size):
    theta = np.random.default_rng(3).standard_normal((size[0], 2, 3))
    mine, theirs = both(theta)
    grid = F.affine_grid(mine, dg.Size(size), align_corners=align_corners)
    expected = torch.nn.functional.affine_grid(theirs, size, align_corners=align_corners)
    np.testing.assert_allclose(grid.detach().numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-14)
    grid.pow(2).sum().backward()
    expected.pow(2).sum().backward()
    np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


def test_a_spatial_transformer_step_matches_torch():
    # the official tutorial's use: a grid from predicted affine parameters, then sampling
    rng = np.random.default_rng(5)
    # sampling points off the pixel grid: at a kink (a whole pixel position) the two libraries round
    # differently by an ulp and take the other one-sided derivative
    image, theta = rng.standard_normal((2, 1, 6, 6)), np.tile([[0.97, 0.13, 0.051], [-0.11, 0.89, 0.023]], (2, 1, 1))
    x_mine, x_theirs = both(image)
    t_mine, t_theirs = both(theta)
    out = F.grid_sample(x_mine, F.affine_grid(t_mine, x_mine.size(), align_corners=False), align_corners=False)
    expected = torch.nn.functional.grid_sample(x_theirs, torch.nn.functional.affine_grid(
        t_theirs, x_theirs.size(), align_corners=False), align_corners=False)
    out.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(t_mine.grad.numpy(), t_theirs.grad.numpy(), rtol=1e-9)


def test_bad_arguments_name_the_op():
    image, grid = dg.zeros(1, 1, 3, 3), dg.zeros(1, 2, 2, 2)
    with pytest.raises(OpNotImplementedError, match="grid_sample: mode"):
        F.grid_sample(image, grid, mode="bicubic", align_corners=False)
    with pytest.raises(OpValueError, match="grid_sample: padding_mode"):
        F.grid_sample(image, grid, padding_mode="wrap", align_corners=False)
    with pytest.raises(OpRuntimeError, match=r"grid_sample: expected input .* got input \(1, 1, 3, 3\) and grid \(1, 2, 2\)"):
        F.grid_sample(image, dg.zeros(1, 2, 2), align_corners=False)
    with pytest.raises(OpRuntimeError, match="same floating dtype"):
        F.grid_sample(image, grid.double(), align_corners=False)
    with pytest.raises(OpValueError, match=r"affine_grid: expected theta of shape \(1, 2, 3\)"):
        F.affine_grid(dg.zeros(1, 3, 3), (1, 1, 3, 3), align_corners=False)
    with pytest.warns(UserWarning, match="align_corners"):
        F.grid_sample(image, grid)
