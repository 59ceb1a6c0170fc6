"""multinomial: frequencies against the weights (chi-square bounds, fixed seeds, enough draws),
without replacement (distinct samples, sequential-draw marginals), zero weights never drawn,
reproducibility under manual_seed and a Generator, shapes and dtypes, and PyTorch's errors."""
import numpy as np
import pytest

import distgrad as dg

torch = pytest.importorskip("torch")

# Far above the 99.99% quantile of a chi-square with a few degrees of freedom (about 21 for 3);
# a wrong distribution gives thousands at these draw counts.
CHI_SQUARE_BOUND = 30.0


def chi_square(samples, probabilities):
    """Pearson's statistic of the samples' counts against ``probabilities`` (positive ones)."""
    counts = np.bincount(np.asarray(samples).ravel(), minlength=len(probabilities))
    expected = np.asarray(probabilities) * counts.sum()
    positive = expected > 0
    assert counts[~positive].sum() == 0, f"drawn where the probability is 0: {counts}"
    return float((((counts - expected) ** 2)[positive] / expected[positive]).sum())


def normalized(weights):
    weights = np.asarray(weights, dtype=np.float64)
    return weights / weights.sum()


def test_with_replacement_frequencies_follow_unnormalized_weights():
    weights = [1.0, 0.0, 2.0, 3.0, 4.0]
    dg.manual_seed(0)
    samples = dg.multinomial(dg.tensor(weights), 100_000, replacement=True).numpy()
    assert chi_square(samples, normalized(weights)) < CHI_SQUARE_BOUND


def test_with_replacement_each_row_follows_its_own_weights():
    rows = [[1.0, 0.0, 2.0, 3.0, 4.0],
            [0.0, 0.0, 0.0, 0.0, 5.0],
            [3.0, 1.0, 0.0, 0.0, 0.0],
            [0.0, 1e-3, 0.0, 1.0, 0.0]]
    dg.manual_seed(1)
    samples = dg.tensor(rows).multinomial(50_000, replacement=True).numpy()
    assert samples.shape == (4, 50_000)
    for row, drawn in zip(rows, samples):
        assert chi_square(drawn, normalized(row)) < CHI_SQUARE_BOUND, row


def test_many_rows_each_with_one_category_draw_only_it():
    count, k = 5000, 7
    weights = np.zeros((count, k))
    weights[np.arange(count), np.arange(count) % k] = 0.25
    dg.manual_seed(2)
    for replacement in (True, False):
        samples = dg.multinomial(dg.tensor(weights), 1, replacement).numpy()
        np.testing.assert_array_equal(samples[:, 0], np.arange(count) % k)


def test_without_replacement_first_and_second_draws_follow_sequential_sampling():
    p = normalized([1.0, 2.0, 3.0, 4.0])
    # second draw: the first (i) is removed and the rest renormalized
    second = np.array([sum(p[i] * p[j] / (1 - p[i]) for i in range(4) if i != j) for j in range(4)])
    dg.manual_seed(3)
    samples = dg.multinomial(dg.tensor(np.tile([1.0, 2.0, 3.0, 4.0], (40_000, 1))), 2).numpy()
    assert chi_square(samples[:, 0], p) < CHI_SQUARE_BOUND
    assert chi_square(samples[:, 1], second) < CHI_SQUARE_BOUND
    assert chi_square(samples[:, 1], p) > 100  # the second draw's law differs from the first's


def test_without_replacement_samples_are_distinct_and_skip_zero_weights():
    weights = np.array([[0.5, 0.0, 2.0, 1.0, 0.0, 3.0],
                        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]])
    dg.manual_seed(4)
    for _ in range(50):
        samples = dg.multinomial(dg.tensor(weights), 4).numpy()
        assert sorted(samples[0]) == [0, 2, 3, 5]  # every non-zero category, none of the others
        assert len(set(samples[1])) == 4
        permutation = dg.multinomial(dg.tensor(weights[1]), 6).numpy()
        assert sorted(permutation) == list(range(6))


def test_zero_weights_are_never_drawn_with_replacement():
    weights = np.array([0.0, 1e-6, 0.0, 1.0, 0.0])
    dg.manual_seed(5)
    samples = dg.multinomial(dg.tensor(weights), 200_000, True).numpy()
    assert set(np.unique(samples)) <= {1, 3}
    assert (samples == 3).sum() > 199_000


def test_manual_seed_makes_draws_reproducible():
    weights = dg.tensor([[1.0, 2.0, 3.0, 0.0, 4.0]] * 3)
    draws = []
    for seed in (7, 7, 8):
        dg.manual_seed(seed)
        draws.append((dg.multinomial(weights, 50, True).numpy(), dg.multinomial(weights, 3).numpy()))
    np.testing.assert_array_equal(draws[0][0], draws[1][0])
    np.testing.assert_array_equal(draws[0][1], draws[1][1])
    assert not np.array_equal(draws[0][0], draws[2][0])


def test_a_generator_is_its_own_stream():
    weights = dg.tensor([1.0, 2.0, 3.0, 4.0])
    first = dg.multinomial(weights, 40, True, generator=dg.Generator().manual_seed(9)).numpy()
    again = dg.multinomial(weights, 40, True, generator=dg.Generator().manual_seed(9)).numpy()
    np.testing.assert_array_equal(first, again)
    dg.manual_seed(10)
    expected = dg.multinomial(weights, 40, True).numpy()
    dg.manual_seed(10)
    dg.multinomial(weights, 40, True, generator=dg.Generator().manual_seed(9))  # leaves the global stream alone
    np.testing.assert_array_equal(dg.multinomial(weights, 40, True).numpy(), expected)


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
def test_shapes_and_dtype(dtype):
    vector = dg.tensor(np.array([1.0, 2.0, 3.0], dtype=dtype), requires_grad=dtype != "float16")
    drawn = dg.multinomial(vector, 2)
    assert drawn.shape == (2,) and drawn.dtype == dg.int64
    assert not drawn.requires_grad and drawn.grad_fn is None
    matrix = dg.tensor(np.ones((4, 3), dtype=dtype))
    assert matrix.multinomial(7, replacement=True).shape == (4, 7)
    assert dg.multinomial(dg.tensor(np.ones((0, 3), dtype=dtype)), 2).shape == (0, 2)
    expected = torch.multinomial(torch.ones(4, 3, dtype=getattr(torch, dtype)), 2)
    assert matrix.multinomial(2).shape == tuple(expected.shape) and expected.dtype == torch.int64


ERRORS = [
    ([1.0, -1.0, 1.0], 1, False, "element < 0"),
    ([1.0, float("nan"), 1.0], 1, True, "`nan`"),
    ([1.0, float("inf"), 1.0], 1, True, "`inf`"),
    ([[1.0, 1.0], [0.0, 0.0]], 1, True, "sum of probabilities <= 0"),
    ([1.0, 1.0, 1.0], 4, False, "n_sample > prob_dist.size(-1)"),
    ([1.0, 1.0, 1.0], 0, True, "n_sample <= 0"),
    ([[[1.0]]], 1, True, "1 or 2 dim"),
    (1.0, 1, True, "1 or 2 dim"),
    ([1, 2, 3], 1, True, "floating-point"),
]


@pytest.mark.parametrize("weights,count,replacement,message", ERRORS, ids=[e[3] for e in ERRORS])
def test_errors_as_pytorch(weights, count, replacement, message):
    with pytest.raises(RuntimeError):
        torch.multinomial(torch.tensor(weights), count, replacement)
    with pytest.raises(RuntimeError, match="^multinomial: ") as raised:
        dg.multinomial(dg.tensor(weights), count, replacement)
    assert message in str(raised.value)


def test_more_samples_than_non_zero_weights_without_replacement_raises():
    with pytest.raises(RuntimeError, match="multinomial: .*not enough non-zero categories"):
        dg.multinomial(dg.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]]), 3)
    assert dg.multinomial(dg.tensor([1.0, 0.0, 1.0]), 3, True).shape == (3,)  # fine with replacement


def test_num_samples_must_be_an_int():
    with pytest.raises(TypeError, match="multinomial"):
        dg.multinomial(dg.tensor([1.0, 2.0]), 1.0)
    with pytest.raises(TypeError):
        torch.multinomial(torch.tensor([1.0, 2.0]), 1.0)
