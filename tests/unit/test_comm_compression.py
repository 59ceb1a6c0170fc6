"""Gradient compression: round trips and their error bounds, bfloat16 rounding."""
import numpy as np
import pytest

from distgrad.distributed.compression import Compression, resolve_compression
from distgrad.world.comm.bfloat16 import bfloat16_bits_to_float32, bfloat16_sum, float32_to_bfloat16_bits


@pytest.fixture
def values():
    rng = np.random.default_rng(0)
    # gradients span many magnitudes
    return (rng.standard_normal(10000) * 10.0 ** rng.uniform(-6, 3, 10000)).astype(np.float32)


def test_none_passes_the_array_through(values):
    sent, ctx = Compression.none.compress(values)
    assert sent is values
    assert Compression.none.decompress(sent, ctx) is values


def test_fp16_round_trip_within_half_precision(values):
    sent, ctx = Compression.fp16.compress(values)
    assert sent.dtype == np.float16 and ctx == np.float32
    back = Compression.fp16.decompress(sent, ctx)
    assert back.dtype == np.float32
    normal = np.abs(values) > 6.1e-5  # below, float16 is subnormal: absolute error 2**-25
    rel = np.abs(back[normal] - values[normal]) / np.abs(values[normal])
    assert rel.max() <= 2.0 ** -11
    assert np.abs(back[~normal] - values[~normal]).max() <= 2.0 ** -25


def test_bf16_round_trip_within_bfloat16_precision(values):
    sent, ctx = Compression.bf16.compress(values)
    assert sent.dtype == np.uint16 and Compression.bf16.wire_element(ctx) == "bfloat16"
    back = Compression.bf16.decompress(sent, ctx)
    assert back.dtype == np.float32
    rel = np.abs(back - values) / np.abs(values)
    assert rel.max() <= 2.0 ** -8  # half a unit in the last of 8 significant bits
    assert rel.max() > 2.0 ** -10  # it really is compressed


def test_bf16_rounds_to_nearest_ties_to_even():
    bits = np.array([0x3F800000,   # 1.0: exact
                     0x3F808000,   # halfway between 0x3F80 and 0x3F81: tie to even 0x3F80
                     0x3F818000,   # halfway between 0x3F81 and 0x3F82: tie to even 0x3F82
                     0x3F808001,   # just above halfway: up
                     0x3F807FFF,   # just below halfway: down
                     0x7F7FFFFF,   # float32 max rounds up to infinity
                     0xFF800000,   # -inf stays -inf
                     0x7FC00001,   # NaN stays NaN
                     0x7F800001],  # NaN with a low payload must not become infinity
                    dtype=np.uint32)
    out = float32_to_bfloat16_bits(bits.view(np.float32))
    assert [hex(v) for v in out[:7]] == ["0x3f80", "0x3f80", "0x3f82", "0x3f81", "0x3f80", "0x7f80", "0xff80"]
    assert np.isnan(bfloat16_bits_to_float32(out[7:])).all()


def test_bf16_matches_torch_bfloat16(values):
    torch = pytest.importorskip("torch")
    expected = torch.from_numpy(values).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    np.testing.assert_array_equal(float32_to_bfloat16_bits(values), expected)


def test_bf16_sum_rounds_the_exact_sum():
    a = float32_to_bfloat16_bits(np.array([1.0, 3.0, -2.5], np.float32))
    b = float32_to_bfloat16_bits(np.array([2.0 ** -8, 0.25, 2.5], np.float32))
    total = bfloat16_bits_to_float32(bfloat16_sum(a, b))
    np.testing.assert_array_equal(total, [1.0, 3.25, 0.0])  # 1 + 2**-8 is a tie: to even, 1.0


def test_integers_are_not_compressed():
    ints = np.arange(5)
    for compressor in (Compression.fp16, Compression.bf16):
        sent, ctx = compressor.compress(ints)
        assert sent is ints and ctx is None and compressor.decompress(sent, ctx) is ints


def test_resolve_compression():
    assert resolve_compression(None) is Compression.none
    assert resolve_compression("fp16") is Compression.fp16
    assert resolve_compression(Compression.bf16) is Compression.bf16
    with pytest.raises(ValueError, match="unknown compression 'zip'"):
        resolve_compression("zip")
    with pytest.raises(TypeError, match="compress"):
        resolve_compression(object())
