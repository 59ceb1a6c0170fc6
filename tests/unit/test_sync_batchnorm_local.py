"""SyncBatchNorm in a world of one is BatchNorm, and conversion keeps every number."""
import numpy as np
import pytest

import distgrad as dg
import distgrad.nn as nn


def cnn():
    dg.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(),
                         nn.Sequential(nn.Flatten(), nn.BatchNorm1d(12)))


def test_conversion_replaces_every_batchnorm_and_keeps_parameters_and_statistics():
    model = cnn()
    model(dg.randn(4, 1, 4, 4))  # running statistics away from their initial values
    before = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert isinstance(converted[1], nn.SyncBatchNorm) and isinstance(converted[3][1], nn.SyncBatchNorm)
    after = converted.state_dict()
    assert before.keys() == after.keys()
    for key, value in before.items():
        np.testing.assert_array_equal(after[key].detach().numpy(), value)


def test_in_a_world_of_one_it_trains_as_batchnorm():
    plain, synced = cnn(), nn.SyncBatchNorm.convert_sync_batchnorm(cnn())
    x = dg.randn(5, 1, 4, 4)
    for model in (plain, synced):
        model(x).sum().backward()
    for a, b in zip(plain.parameters(), synced.parameters()):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())
    for a, b in zip(plain.buffers(), synced.buffers()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_process_group_that_is_not_one_is_refused_when_it_is_used():
    bn = nn.SyncBatchNorm(3, process_group=object())
    with pytest.raises(TypeError, match="SyncBatchNorm: group must be None or what new_group returned"):
        bn(dg.randn(4, 3))
