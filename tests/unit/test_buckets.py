"""The bucket assignment of DDP's reducer: a pure function, pinned down here."""
import pytest
from hypothesis import given, settings, strategies as st

from distgrad.world.buckets import MB, assign_buckets

KB = 1024


def test_seed_mlp_fits_one_first_bucket_in_reverse_order():
    # 784-128-10: fc1.weight, fc1.bias, fc2.weight, fc2.bias (float32), 407 KB in all
    sizes = [128 * 784 * 4, 128 * 4, 10 * 128 * 4, 10 * 4]
    assert assign_buckets(sizes) == [[3, 2, 1, 0]]


def test_first_bucket_is_about_one_megabyte_later_ones_fill_to_the_cap():
    sizes = [400 * KB] * 10  # registration order 0..9
    buckets = assign_buckets(sizes, bucket_cap_bytes=2 * MB)
    # first bucket: 2 x 400 KB (a third would pass 1 MB); then up to 5 x 400 KB per bucket
    assert buckets == [[9, 8], [7, 6, 5, 4, 3], [2, 1, 0]]


def test_no_bucket_passes_its_cap_but_a_large_parameter_gets_its_own():
    sizes = [10 * KB, 3 * MB, 10 * KB, 10 * KB]
    buckets = assign_buckets(sizes, bucket_cap_bytes=1 * MB, first_bucket_cap_bytes=16 * KB)
    # 3 goes into the 16 KB first bucket; 2 does not fit there (20 KB > 16 KB); 1 alone
    # is larger than the 1 MB cap
    assert buckets == [[3], [2], [1], [0]]


def test_a_bucket_that_reaches_its_cap_exactly_is_closed():
    buckets = assign_buckets([MB // 2] * 4, bucket_cap_bytes=MB, first_bucket_cap_bytes=MB)
    assert buckets == [[3, 2], [1, 0]]


def test_cap_smaller_than_first_bucket_cap_bounds_the_first_bucket_too():
    buckets = assign_buckets([100] * 6, bucket_cap_bytes=200)
    assert buckets == [[5, 4], [3, 2], [1, 0]]


def test_dtypes_and_devices_never_share_a_bucket():
    sizes = [100] * 6
    keys = ["f32", "f16", "f32", "f16", "f32", ("f32", "cuda:0")]
    buckets = assign_buckets(sizes, keys, bucket_cap_bytes=10 * KB)
    assert sorted(map(sorted, buckets)) == [[0, 2, 4], [1, 3], [5]]
    for bucket in buckets:
        assert len({keys[i] for i in bucket}) == 1
    # launch order follows each bucket's first expected gradient: 5, then 4 (f32), then 3 (f16)
    assert buckets == [[5], [4, 2, 0], [3, 1]]


def test_each_group_has_its_own_small_first_bucket():
    sizes = [600 * KB] * 4
    keys = ["a", "b", "a", "b"]
    buckets = assign_buckets(sizes, keys, bucket_cap_bytes=25 * MB)
    # 600 KB + 600 KB passes the 1 MB first cap in each group
    assert buckets == [[3], [2], [1], [0]]


def test_an_observed_order_decides_filling_and_launching():
    # a model that registers its head first but runs it last: gradients arrive 0, 1 then 2, 3
    sizes = [400 * KB, 4 * KB, 400 * KB, 4 * KB]
    assert assign_buckets(sizes, bucket_cap_bytes=500 * KB, first_bucket_cap_bytes=500 * KB) == [[3, 2, 1], [0]]
    assert assign_buckets(sizes, bucket_cap_bytes=500 * KB, first_bucket_cap_bytes=500 * KB,
                          order=[0, 1, 2, 3]) == [[0, 1], [2, 3]]


def test_empty_and_invalid_inputs():
    assert assign_buckets([]) == []
    with pytest.raises(ValueError, match="positive"):
        assign_buckets([1], bucket_cap_bytes=0)
    with pytest.raises(ValueError, match="keys"):
        assign_buckets([1, 2], keys=["a"])
    with pytest.raises(ValueError, match="each of the 2 parameters once"):
        assign_buckets([1, 2], order=[1, 1])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5000), st.sampled_from("abc")), max_size=40),
       st.integers(1, 6000), st.integers(1, 6000))
def test_properties(params, cap, first_cap):
    sizes = [s for s, _ in params]
    keys = [k for _, k in params]
    buckets = assign_buckets(sizes, keys, bucket_cap_bytes=cap, first_bucket_cap_bytes=first_cap)
    flat = [i for b in buckets for i in b]
    assert sorted(flat) == list(range(len(params)))           # every parameter exactly once
    for bucket in buckets:
        assert bucket and bucket == sorted(bucket, reverse=True)  # reverse registration order
        assert len({keys[i] for i in bucket}) == 1             # one dtype/device per bucket
        assert len(bucket) == 1 or sum(sizes[i] for i in bucket) <= cap
    firsts = [b[0] for b in buckets]
    assert firsts == sorted(firsts, reverse=True)              # launched in expected order
    for key in set(keys):                                      # first bucket of a group: small cap
        first = next(b for b in buckets if keys[b[0]] == key)
        assert len(first) == 1 or sum(sizes[i] for i in first) <= min(cap, first_cap)
