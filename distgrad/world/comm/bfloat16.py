"""bfloat16 numbers kept as uint16 bit patterns (NumPy has no bfloat16): the conversions
and the sum the communicators use to reduce compressed gradients."""
from ...backend import get_array_module


def float32_to_bfloat16_bits(array):
    """Round float32 (or wider) values to the nearest bfloat16, ties to even; uint16 bits."""
    xp = get_array_module(array)
    bits = xp.ascontiguousarray(array, dtype=xp.float32).view(xp.uint32)
    # Adding 0x7FFF plus the lowest kept bit before truncating rounds to nearest even;
    # infinities stay infinite and overflow rounds to infinity, as IEEE rounding does.
    rounded = (bits + (0x7FFF + ((bits >> 16) & 1))) >> 16
    out = rounded.astype(xp.uint16)
    nan = xp.isnan(array)
    if nan.any():  # the addition could carry a NaN's payload into an infinity
        out[nan] = 0x7FC0
    return out


def bfloat16_bits_to_float32(bits):
    xp = get_array_module(bits)
    return (bits.astype(xp.uint32) << 16).view(xp.float32)


def bfloat16_sum(a_bits, b_bits):
    """Elementwise a + b of two bfloat16 arrays, rounded back to bfloat16 (what a reduction
    over the network computes)."""
    return float32_to_bfloat16_bits(bfloat16_bits_to_float32(a_bits) + bfloat16_bits_to_float32(b_bits))
