"""OpError: the errors distgrad raises about an op's arguments.

Each reads ``op: what is wrong (shapes, dtypes, devices); how to fix`` and keeps the op's
name in ``.op``. The concrete classes are also the built-in error they used to be
(``OpValueError`` is a ValueError, ...), so ``except ValueError`` catches what it did.
Function.apply tells them from errors the array library raised inside a forward by type:
those name neither the op nor the shapes, and get both added (``function.named_error``).
"""


class OpError(Exception):
    def __init__(self, op, message):
        super().__init__(f"{op}: {message}")
        self.op = op


class OpValueError(OpError, ValueError):
    pass


class OpRuntimeError(OpError, RuntimeError):
    pass


class OpTypeError(OpError, TypeError):
    pass


class OpIndexError(OpError, IndexError):
    pass


class OpNotImplementedError(OpError, NotImplementedError):
    pass
