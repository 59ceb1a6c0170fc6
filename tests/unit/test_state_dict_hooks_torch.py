"""Module state-dict machinery as PyTorch's: state-dict and load hooks (which may rename keys:
old checkpoints), extra state, and the container and Module methods scripts call."""
import warnings

import numpy as np
import pytest

import distgrad as dg

torch = pytest.importorskip("torch")


def run_both(script):
    """``script(lib)`` under PyTorch and distgrad; their results, as plain values."""
    def plain(value):
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value.detach().numpy().tolist() if hasattr(value, "detach") else value
    return plain(script(torch)), plain(script(dg))


def test_state_dict_and_load_hooks_run_where_and_as_pytorchs():
    def script(lib):
        lib.manual_seed(0)
        model = lib.nn.Sequential(lib.nn.Linear(2, 2), lib.nn.Sequential(lib.nn.Linear(2, 1)))
        calls = []
        model[1].register_state_dict_pre_hook(lambda m, prefix, keep_vars: calls.append(("pre", prefix)))

        def post(module, sd, prefix, meta):
            calls.append(("post", prefix, sorted(sd)))
            del sd[prefix + "0.bias"]

        model[1].register_state_dict_post_hook(post)

        def rename(module, sd, prefix, meta, strict, missing, unexpected, errors):
            calls.append(("load_pre", prefix))
            if prefix + "old_weight" in sd:
                sd[prefix + "0.weight"] = sd.pop(prefix + "old_weight")

        handle = model[1].register_load_state_dict_pre_hook(rename)
        model.register_load_state_dict_post_hook(
            lambda m, keys: calls.append(("load_post", sorted(keys.missing_keys), sorted(keys.unexpected_keys))))
        saved = model.state_dict()
        keys = sorted(saved)
        saved["1.old_weight"] = saved.pop("1.0.weight") * 0 + 3
        result = model.load_state_dict(saved, strict=False)
        handle.remove()
        model.load_state_dict({}, strict=False)  # the pre-hook is gone: no call
        return keys, calls, model[1][0].weight, sorted(result.missing_keys)
    expected, got = run_both(script)
    assert got == expected


class Counter:
    """A module whose extra state (a step count) travels in the state dict."""
    def __init__(self, lib):
        class Stateful(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.lin, self.steps = lib.nn.Linear(1, 1), 0

            def get_extra_state(self):
                return {"steps": self.steps}

            def set_extra_state(self, state):
                self.steps = state["steps"]
        self.cls = Stateful


def test_extra_state_is_saved_and_loaded_as_pytorchs():
    def script(lib):
        a, b = Counter(lib).cls(), Counter(lib).cls()
        a.steps = 7
        state = a.state_dict()
        b.load_state_dict(state)
        return sorted(state), state["_extra_state"], b.steps
    expected, got = run_both(script)
    assert got == expected == [["_extra_state", "lin.bias", "lin.weight"], {"steps": 7}, 7]


def test_old_weight_norm_checkpoints_load_into_the_parametrization():
    def script(lib):
        lib.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            old = lib.nn.utils.weight_norm(lib.nn.Linear(3, 2))
        new = lib.nn.utils.parametrizations.weight_norm(lib.nn.Linear(3, 2))
        new.load_state_dict(old.state_dict())
        return sorted(old.state_dict()), new.weight
    (keys, weight_t), (keys_d, weight_d) = run_both(script)
    assert keys == keys_d == ["bias", "weight_g", "weight_v"]
    dg.manual_seed(0)  # the same old module under distgrad, to compare the loaded weight with
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        old = dg.nn.utils.weight_norm(dg.nn.Linear(3, 2))
    old(dg.zeros(1, 3))  # the hook form computes its weight before a forward
    np.testing.assert_allclose(weight_d, old.weight.detach().numpy(), rtol=1e-6)


def test_container_and_module_methods_scripts_call():
    def script(lib):
        a = lib.nn.Sequential(lib.nn.ReLU(), lib.nn.Tanh())
        b = lib.nn.Sequential(lib.nn.Sigmoid())
        joined, doubled = a + b, a * 2
        a += b
        popped = joined.pop(0)
        listed = lib.nn.ModuleList([lib.nn.ReLU(), lib.nn.Tanh()])
        model = lib.nn.Sequential(lib.nn.Linear(2, 2), lib.nn.Sequential(lib.nn.ReLU()))
        model.set_submodule("1.0", lib.nn.Tanh())
        return ([type(m).__name__ for m in joined], [type(m).__name__ for m in doubled], len(a),
                type(popped).__name__, type(listed.pop(-1)).__name__, doubled[0] is doubled[2],
                type(model[1][0]).__name__, model.share_memory() is model, model.to_empty(device="cpu") is model)
    expected, got = run_both(script)
    assert got == expected


def test_a_public_state_dict_post_hook_must_return_none():
    for lib in (torch, dg):
        model = lib.nn.Linear(1, 1)
        model.register_state_dict_post_hook(lambda m, sd, prefix, meta: sd)
        with pytest.raises(RuntimeError, match="post-hook must return None"):
            model.state_dict()
