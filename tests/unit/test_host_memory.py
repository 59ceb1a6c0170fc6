"""The allocator setting that keeps freed host memory for the next step's arrays."""
import platform
import sys

from distgrad.ops._host_memory import keep_host_memory


def test_tuning_applies_on_glibc(monkeypatch):
    monkeypatch.delenv("DISTGRAD_KEEP_HOST_MEMORY", raising=False)
    on_glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert keep_host_memory() is on_glibc


def test_environment_variable_turns_it_off(monkeypatch):
    monkeypatch.setenv("DISTGRAD_KEEP_HOST_MEMORY", "0")
    assert keep_host_memory() is False
