"""A line search for the strong Wolfe conditions (Nocedal & Wright, Numerical Optimization,
2nd ed., Algorithms 3.5 and 3.6), with trial steps from cubic interpolation (eq. 3.59).

Along ``x + t d``, phi(t) is the loss and phi'(t) = grad . d (the "slope"). A step t is
accepted when
    phi(t) <= phi(0) + c1 t phi'(0)        (sufficient decrease)
    |phi'(t)| <= c2 |phi'(0)|              (curvature)
First the step grows until an interval must contain such a point (the bracketing phase),
then the interval shrinks around it (zoom).
"""
import math
from dataclasses import dataclass


@dataclass
class _Point:
    t: float
    loss: float
    grad: object   # the flat gradient at x + t d
    slope: float


def cubic_minimizer(a, b, bounds=None):
    """The minimizer of the cubic matching value and slope at points ``a`` and ``b``,
    clipped to ``bounds`` (default: the interval between them); the midpoint of the bounds
    when the cubic has no minimizer."""
    low, high = bounds if bounds is not None else sorted((a.t, b.t))
    d1 = a.slope + b.slope - 3 * (a.loss - b.loss) / (a.t - b.t)
    discriminant = d1 * d1 - a.slope * b.slope
    if discriminant < 0:
        return (low + high) / 2
    d2 = math.sqrt(discriminant)
    left, right = (a, b) if a.t <= b.t else (b, a)
    # eq. (3.59), written from the right-hand point of the pair
    t = right.t - (right.t - left.t) * ((right.slope + d2 - d1) / (right.slope - left.slope + 2 * d2))
    return min(max(t, low), high)


def strong_wolfe(evaluate, xp, t, direction, loss, grad, slope, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                 max_evals=25):
    """Search along ``direction`` from loss/grad/slope at t = 0, starting with step ``t``.
    ``evaluate(t)`` gives (loss, flat grad) there. Returns (loss, grad, t, evaluations)."""
    origin = _Point(0.0, loss, grad, slope)
    scale = float(xp.abs(direction).max())

    def probe(step):
        value, g = evaluate(step)
        return _Point(step, value, g, float(xp.dot(g, direction)))

    def sufficient_decrease(p):
        return p.loss <= origin.loss + c1 * p.t * origin.slope

    def flat_enough(p):
        return abs(p.slope) <= -c2 * origin.slope

    previous, current = origin, probe(t)
    evals, tries = 1, 0
    bracket, found = None, None
    while tries < max_evals:
        if not sufficient_decrease(current) or (tries > 1 and current.loss >= previous.loss):
            bracket = [previous, current]
            break
        if flat_enough(current):
            found = current
            break
        if current.slope >= 0:  # past a minimum along the line
            bracket = [previous, current]
            break
        # extrapolate: at least 1% past the current step, at most 10x it
        step = cubic_minimizer(previous, current,
                               bounds=(current.t + 0.01 * (current.t - previous.t), current.t * 10))
        previous, current = current, probe(step)
        evals += 1
        tries += 1
    if found is not None:
        return found.loss, found.grad, found.t, evals
    if bracket is None:  # the budget ran out while the steps were still growing
        bracket = [_Point(0.0, origin.loss, origin.grad, origin.slope), current]

    return _zoom(bracket, probe, sufficient_decrease, flat_enough, scale, tolerance_change, evals, tries, max_evals)


def _zoom(bracket, probe, sufficient_decrease, flat_enough, scale, tolerance_change, evals, tries, max_evals):
    """Shrink ``bracket`` (two points, one of them the lowest loss so far) around a point
    satisfying the strong Wolfe conditions; returns the best point's (loss, grad, t, evals)."""
    def lowest_first():
        return (0, 1) if bracket[0].loss <= bracket[1].loss else (1, 0)

    low, high = lowest_first()
    stalled = False
    while tries < max_evals:
        if abs(bracket[1].t - bracket[0].t) * scale < tolerance_change:
            break
        lo_t, hi_t = sorted((bracket[0].t, bracket[1].t))
        t = cubic_minimizer(bracket[0], bracket[1])
        # Keep trial steps off the ends: a step within 10% of an end twice in a row (or
        # outside) moves to 10% inside the nearer end, so the interval keeps shrinking.
        margin = 0.1 * (hi_t - lo_t)
        if min(hi_t - t, t - lo_t) < margin:
            if stalled or t >= hi_t or t <= lo_t:
                t = hi_t - margin if abs(t - hi_t) < abs(t - lo_t) else lo_t + margin
                stalled = False
            else:
                stalled = True
        else:
            stalled = False
        trial = probe(t)
        evals += 1
        tries += 1
        if not sufficient_decrease(trial) or trial.loss >= bracket[low].loss:
            bracket[high] = trial
            low, high = lowest_first()
            continue
        if flat_enough(trial):
            bracket[low] = trial
            break
        if trial.slope * (bracket[high].t - bracket[low].t) >= 0:
            bracket[high] = bracket[low]
        bracket[low] = trial
    best = bracket[low]
    return best.loss, best.grad, best.t, evals
