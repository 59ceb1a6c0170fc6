"""The allocator setting that keeps freed host memory for the next step's arrays."""
import platform
import sys

import distgrad as dg
from distgrad import optim
from distgrad.optim import _host_memory
from distgrad.optim._host_memory import keep_host_memory


def test_tuning_applies_on_glibc(monkeypatch):
    monkeypatch.delenv("DISTGRAD_KEEP_HOST_MEMORY", raising=False)
    on_glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert keep_host_memory() is on_glibc


def test_environment_variable_turns_it_off(monkeypatch):
    monkeypatch.setenv("DISTGRAD_KEEP_HOST_MEMORY", "0")
    assert keep_host_memory() is False


def test_set_once_when_the_first_optimizer_is_made(monkeypatch):
    calls = []
    monkeypatch.setattr(_host_memory, "_kept", None)  # as after import distgrad: nothing set yet
    monkeypatch.setattr(_host_memory, "keep_host_memory", lambda: calls.append(1) or True)
    params = [dg.zeros(2, requires_grad=True)]
    optim.SGD(params, lr=0.1)
    optim.Adam(params)
    assert calls == [1] and _host_memory._kept is True
