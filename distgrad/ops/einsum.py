"""einsum with PyTorch's rules: ellipsis, implicit output, repeated subscripts (diagonals and
traces), broadcasting of size-1 dimensions, and a gradient for every operand.

The equation is first rewritten with letters only (each ellipsis dimension gets a letter of its
own) and every size checked, so the array library's einsum sees a plain explicit equation; the
gradient of an operand is another einsum of the output gradient with the other operands.
"""
import string

from .. import dtypes
from ..amp import autocast_mode
from ..errors import OpRuntimeError, OpTypeError
from ..function import Function
from ..tensor_base import TensorBase
from ._util import cast, open_grid, unbroadcast

_LETTERS = string.ascii_uppercase + string.ascii_lowercase  # PyTorch's order for an implicit output


class _Equation:
    """A parsed equation: ``terms`` (one string of letters per operand, ellipses replaced),
    ``output`` (letters) and ``sizes`` (letter -> size after broadcasting)."""

    def __init__(self, equation, shapes):
        self.text, self.shapes = equation, shapes
        lhs, arrow, rhs = equation.replace(" ", "").partition("->")
        written = lhs.split(",")
        if len(written) != len(shapes):
            many = "fewer" if len(shapes) < len(written) else "more"
            self.fail(f"{many} operands were provided than specified in the equation")
        used = {c for c in lhs + rhs if c.isalpha()}
        ellipsis_ndim = max([self._ellipsis_ndim(k, t) for k, t in enumerate(written)] + [0])
        spare = [c for c in _LETTERS if c not in used]
        if ellipsis_ndim > len(spare):
            self.fail(f"too many dimensions under the ellipsis ({ellipsis_ndim})")
        self.ellipsis = "".join(spare[:ellipsis_ndim])
        self.terms = [self._expand(t, len(s) - len(t.replace("...", ""))) for t, s in zip(written, shapes)]
        self.sizes = self._sizes()
        self.output = self._check_output(self._expand(rhs, ellipsis_ndim)) if arrow else self._implicit_output()

    def fail(self, message):
        shapes = ", ".join(str(tuple(s)) for s in self.shapes)
        raise OpRuntimeError("einsum", f"{message} (equation {self.text!r}, operand shapes {shapes})")

    def _ellipsis_ndim(self, k, term):
        letters = term.replace("...", "")
        for c in letters:
            if c == ".":
                self.fail(f"found '.' for operand {k} that is not part of any ellipsis")
            if c not in _LETTERS:
                self.fail(f"invalid subscript {c!r} for operand {k}; subscripts must be in [a-zA-Z]")
        ndim = len(self.shapes[k])
        if "..." not in term:
            if len(letters) != ndim:
                self.fail(f"the number of subscripts ({len(letters)}) does not match the number of dimensions "
                          f"({ndim}) of operand {k} and no ellipsis was given")
            return 0
        if term.count("...") > 1:
            self.fail(f"more than one ellipsis for operand {k}")
        if len(letters) > ndim:
            self.fail(f"operand {k} has {ndim} dimensions, fewer than its {len(letters)} subscripts")
        return ndim - len(letters)

    def _expand(self, term, ellipsis_ndim):
        """``term`` with its ellipsis replaced by the letters of its last ``ellipsis_ndim``
        ellipsis dimensions (ellipses broadcast right-aligned)."""
        for c in term.replace("...", ""):
            if c not in _LETTERS:
                self.fail(f"invalid subscript {c!r} in the output; subscripts must be in [a-zA-Z]")
        tail = self.ellipsis[len(self.ellipsis) - ellipsis_ndim:] if ellipsis_ndim else ""
        return term.replace("...", tail, 1)

    def _sizes(self):
        sizes = {}
        for k, (term, shape) in enumerate(zip(self.terms, self.shapes)):
            mine = {}
            for c, n in zip(term, shape):
                if mine.setdefault(c, n) != n:
                    self.fail(f"subscript {c} is repeated for operand {k} but the sizes don't match, {n} != {mine[c]}")
                seen = sizes.get(c, 1)
                if n != 1 and seen != 1 and n != seen:
                    self.fail(f"subscript {c} has size {n} for operand {k} which does not broadcast with "
                              f"previously seen size {seen}")
                sizes[c] = n if seen == 1 else seen
        return sizes

    def _check_output(self, output):
        for c in output:
            if output.count(c) > 1:
                self.fail(f"output subscript {c} appears more than once in the output")
            if c not in self.sizes:
                self.fail(f"output subscript {c} does not appear in the equation for any input operand")
        return output

    def _implicit_output(self):
        """The ellipsis dimensions, then the subscripts written once, in alphabetical order."""
        counts = "".join(self.terms)
        once = sorted((c for c in self.sizes if counts.count(c) == 1 and c not in self.ellipsis), key=_LETTERS.index)
        return self.ellipsis + "".join(once)

    def operand_shape(self, k):
        """Operand k's shape once its size-1 dimensions are broadcast."""
        return tuple(self.sizes[c] for c in self.terms[k])


def _einsum(xp, spec, *arrays):
    optimize = len(arrays) > 2  # a contraction order matters from three operands on
    return xp.einsum(spec, *arrays, optimize=optimize)


class Einsum(Function):
    saves_inputs = True  # the gradient of each operand reads the others

    def forward(self, xp, *arrays, eq):
        self.eq = eq
        arrays = [xp.broadcast_to(a, eq.operand_shape(k)) for k, a in enumerate(arrays)]
        self.saved = arrays
        return xp.asarray(_einsum(xp, ",".join(eq.terms) + "->" + eq.output, *arrays))

    def backward(self, xp, g):
        return tuple(self._operand_grad(xp, g, k) if need else None for k, need in enumerate(self.needs_grad))

    def _operand_grad(self, xp, g, k):
        eq, arrays = self.eq, self.saved
        term, output = eq.terms[k], eq.output
        others = [t for j, t in enumerate(eq.terms) if j != k]
        reachable = set(output).union(*others)
        unique = "".join(dict.fromkeys(term))
        onto = "".join(c for c in unique if c in reachable)
        spec = ",".join([output] + others) + "->" + onto
        grad = _einsum(xp, spec, g, *[a for j, a in enumerate(arrays) if j != k])
        # Subscripts summed away by operand k alone: every element got the same gradient.
        grad = xp.broadcast_to(grad.reshape([eq.sizes[c] if c in onto else 1 for c in unique]),
                               tuple(eq.sizes[c] for c in unique))
        if len(unique) != len(term):
            grad = _onto_diagonal(xp, grad, unique, term, eq.sizes)
        return unbroadcast(xp.ascontiguousarray(grad), self.inputs[k].shape)


def _onto_diagonal(xp, grad, unique, term, sizes):
    """``grad`` (over the distinct subscripts ``unique``) written on the diagonal that a term
    with repeated subscripts (``ii``) reads, zeros elsewhere."""
    full = xp.zeros(tuple(sizes[c] for c in term), grad.dtype)
    grid = open_grid(xp, grad.shape)
    full[tuple(grid[unique.index(c)] for c in term)] = grad
    return full


def _operands(args):
    """The equation and operands from einsum(eq, a, b), einsum(eq, [a, b]) or the sublist form
    einsum(a, [0, 1], b, [1, 2], [0, 2])."""
    if not args:
        raise OpTypeError("einsum", "expected an equation and operands")
    if isinstance(args[0], TensorBase):
        return _sublist_equation(args)
    equation, operands = args[0], args[1:]
    if not isinstance(equation, str):
        raise OpTypeError("einsum", f"the equation must be a string, got {type(equation).__name__}")
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    for k, t in enumerate(operands):
        if not isinstance(t, TensorBase):
            raise OpTypeError("einsum", f"operand {k} must be a Tensor, not {type(t).__name__}")
    return equation, operands


def _sublist_equation(args):
    operands, terms = args[0::2], args[1::2]
    output = None
    if len(operands) > len(terms):  # an odd count: the last list is the output's
        operands, output = operands[:-1], operands[-1]
    text = ",".join(_sublist_term(t) for t in terms)
    if output is not None:
        text += "->" + _sublist_term(output)
    return _operands((text,) + tuple(operands))


def _sublist_term(sublist):
    if isinstance(sublist, TensorBase):
        raise OpTypeError("einsum", "in the sublist form each operand must be followed by a list of subscripts")
    out = ""
    for s in sublist:
        if s is Ellipsis:
            out += "..."
        elif isinstance(s, int) and 0 <= s < len(_LETTERS):
            out += _LETTERS[s]
        else:
            raise OpRuntimeError("einsum", f"subscripts in the sublist form must be integers in [0, 52), got {s!r}")
    return out


def einsum(*args):
    """``einsum(equation, *operands)`` as torch.einsum, differentiable in every operand."""
    equation, operands = _operands(args)
    if not operands:
        raise OpRuntimeError("einsum", f"must provide at least one operand (equation {equation!r})")
    eq = _Equation(equation, [tuple(t.shape) for t in operands])
    if autocast_mode.active:  # matmul-class: PyTorch's einsum runs as bmm, in the low dtype
        operands = autocast_mode.to_low(*operands)
    target = operands[0].array.dtype
    for t in operands[1:]:
        target = dtypes.promote(target, t.array.dtype)
    operands = [t if t.array.dtype == target else cast(t, target) for t in operands]
    return Einsum.apply(*operands, eq=eq)
