"""DISTGRAD_DEBUG=1: before each collective, every rank checks that all ranks are about to
run the same one (kind, reduce op, root, dtype, shape) and raises, naming the ranks and what
differs, instead of hanging or silently reducing mismatched buffers.

The check costs one small all-gather per collective, which is why it is opt-in.
"""
import hashlib
import json
import os

import numpy

FINGERPRINT_BYTES = 256
FIELDS = ("collective", "op", "root", "element", "dtype", "shape")


def debug_enabled(environ=None):
    environ = os.environ if environ is None else environ
    return environ.get("DISTGRAD_DEBUG", "") not in ("", "0")


class Call:
    """One collective, as messages name it: formatted only when a message needs it, so the
    hot path pays for a few attribute stores, not for string formatting."""

    __slots__ = ("kind", "shape", "dtype", "details")

    def __init__(self, kind, array=None, **details):
        self.kind, self.details = kind, details
        self.shape = None if array is None else array.shape
        self.dtype = None if array is None else array.dtype

    def fingerprint(self):
        fp = {"collective": self.kind}
        if self.shape is not None:
            fp["dtype"], fp["shape"] = str(self.dtype), list(self.shape)
        fp.update((k, v) for k, v in self.details.items() if v is not None)
        return fp

    def __str__(self):
        return describe(self.fingerprint())


def fingerprint(kind, array=None, **details):
    """What must agree across ranks for one collective, as a small dict."""
    return Call(kind, array, **details).fingerprint()


def describe(fp):
    """``all_reduce(op=sum) of float32 (3,)``: how messages name a collective."""
    extras = ", ".join(f"{k}={fp[k]}" for k in ("op", "root", "element") if k in fp)
    text = f"{fp['collective']}({extras})" if extras else fp["collective"]
    if "dtype" in fp:
        text += f" of {fp['dtype']} {tuple(fp['shape'])}"
    return text


def encode(fp):
    data = json.dumps(fp, sort_keys=True).encode()
    if len(data) > FINGERPRINT_BYTES:  # a huge shape: compare a digest of it instead
        fp = dict(fp, shape=hashlib.sha1(str(fp.get("shape")).encode()).hexdigest()[:16])
        data = json.dumps(fp, sort_keys=True).encode()
    buf = numpy.zeros(FINGERPRINT_BYTES, numpy.uint8)
    buf[:len(data)] = numpy.frombuffer(data, numpy.uint8)
    return buf


def decode(row):
    return json.loads(bytes(row).rstrip(b"\0").decode())


def mismatch_message(seq, fingerprints, source="DISTGRAD_DEBUG: "):
    """None when every rank's fingerprint is the same; else a message naming, per field that
    differs, which ranks have which value."""
    if all(fp == fingerprints[0] for fp in fingerprints):
        return None
    parts = []
    for field in FIELDS + tuple(sorted({k for fp in fingerprints for k in fp} - set(FIELDS))):
        groups = {}
        for rank, fp in enumerate(fingerprints):
            value = fp.get(field, "-")
            groups.setdefault(json.dumps(value), []).append(rank)
        if len(groups) > 1:
            values = "; ".join(f"{_ranks(r)} {_show(field, json.loads(v))}" for v, r in groups.items())
            parts.append(f"{field} differs: {values}")
    calls = "; ".join(f"rank {r}: {describe(fp)}" for r, fp in enumerate(fingerprints))
    return (f"{source}collective #{seq} does not match across ranks: " + "; ".join(parts)
            + f" (calls: {calls}). Every rank must call the same collectives in the same order "
            "with the same shapes and dtypes")


def _ranks(ranks):
    return ("rank " if len(ranks) == 1 else "ranks ") + ", ".join(map(str, ranks)) + " " + \
        ("has" if len(ranks) == 1 else "have")


def _show(field, value):
    return str(tuple(value)) if field == "shape" and isinstance(value, list) else str(value)
