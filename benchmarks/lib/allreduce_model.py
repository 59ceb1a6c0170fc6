"""Alpha-beta cost of all-reduce algorithms, and a fit of alpha and beta to measured times.

A message of n bytes over a link costs alpha + n * beta (alpha: latency in seconds, beta:
seconds per byte = 1 / bandwidth). With p ranks:

  ring                     2(p-1) alpha + 2(p-1)/p n beta      reduce-scatter then all-gather
  tree (pipelined binary)  2 ceil(log2 p) alpha + 2 n beta     reduce up, broadcast down, chunked
  recursive halving and    2 log2(q) alpha + 2(q-1)/q n beta   Rabenseifner; q = largest power of
  doubling                 (+ 2(alpha + n beta) if p != q)     two <= p, extra ranks folded in/out
  recursive doubling       ceil(log2 p) (alpha + n beta)       every step exchanges the whole message
  hierarchical (GPUs)      ring reduce-scatter in the node over NVLink, the best of the above
                           across nodes over InfiniBand on n/g bytes, ring all-gather in the node

The reduction arithmetic is not a separate term: a fit to measured times folds it into beta.
One (alpha, beta) pair rarely fits 4 B to 256 MB on a CPU: MPI switches protocol (eager to
rendezvous) and messages outgrow the caches. fit_segments() fits one pair per size range, the
ranges chosen by least squares too.
"""
import itertools
import math

ALGORITHMS = ("ring", "tree", "halving_doubling", "recursive_doubling")


def ring(p, n, alpha, beta):
    return 0.0 if p <= 1 else 2 * (p - 1) * alpha + 2 * (p - 1) / p * n * beta


def tree(p, n, alpha, beta):
    return 0.0 if p <= 1 else 2 * math.ceil(math.log2(p)) * alpha + 2 * n * beta


def halving_doubling(p, n, alpha, beta):
    if p <= 1:
        return 0.0
    q = 1 << (p.bit_length() - 1)
    fold = 0.0 if q == p else 2 * (alpha + n * beta)
    return 2 * math.log2(q) * alpha + 2 * (q - 1) / q * n * beta + fold


def recursive_doubling(p, n, alpha, beta):
    return 0.0 if p <= 1 else math.ceil(math.log2(p)) * (alpha + n * beta)


COST = {"ring": ring, "tree": tree, "halving_doubling": halving_doubling, "recursive_doubling": recursive_doubling}


def best(p, n, alpha, beta):
    """(algorithm, seconds) of the cheapest algorithm, as an auto-tuning library would pick."""
    return min(((name, COST[name](p, n, alpha, beta)) for name in ALGORITHMS), key=lambda kv: kv[1])


def hierarchical(p, n, per_node, intra, inter):
    """Two-level all-reduce: ``intra``/``inter`` are (alpha, beta) of NVLink and InfiniBand."""
    g = min(p, per_node)
    nodes = max(1, p // per_node)
    # ring reduce-scatter inside the node: (g-1) steps of n/g bytes; the all-gather mirrors it
    in_node = (g - 1) * (intra[0] + n / g * intra[1]) if g > 1 else 0.0
    across = best(nodes, n / g, *inter)[1]
    return 2 * in_node + across


def flat(p, n, per_node, intra, inter):
    """One flat algorithm over all ranks: the slowest link on its path (InfiniBand once p spans
    nodes) sets alpha and beta."""
    link = intra if p <= per_node else inter
    return {name: COST[name](p, n, *link) for name in ALGORITHMS}


def fit(points, p=2, form=ring):
    """Least-squares alpha, beta (seconds, seconds per byte) for measured (bytes, seconds) at p
    ranks, minimising relative error so 4 B and 256 MB weigh alike. ``form`` is linear in alpha
    and beta, so two evaluations give its coefficients."""
    import numpy as np
    rows, rhs = [], []
    for n, t in points:
        a_coef, b_coef = form(p, n, 1.0, 0.0), form(p, n, 0.0, 1.0)
        rows.append([a_coef / t, b_coef / t])
        rhs.append(1.0)
    (alpha, beta), *_ = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)
    if alpha < 0 or beta < 0:  # a negative latency or bandwidth means nonsense: fit one term alone
        alpha, beta = max(alpha, 0.0), max(beta, 0.0)
        col = 1 if alpha == 0 else 0
        scale = np.linalg.lstsq(np.array(rows)[:, [col]], np.array(rhs), rcond=None)[0][0]
        alpha, beta = (0.0, scale) if col == 1 else (scale, 0.0)
    errors = [form(p, n, alpha, beta) / t - 1 for n, t in points]
    return float(alpha), float(beta), errors


def fit_segments(points, p=2, form=ring, max_segments=3, min_points=3):
    """Piecewise alpha-beta: split the sizes into up to ``max_segments`` contiguous ranges (each
    with >= ``min_points`` sizes) and fit each; keep the split with the least squared relative
    error. Returns [{"up_to_bytes", "alpha", "beta"}], ordered by size, and the errors."""
    points = sorted(points)
    chosen = None
    for k in range(1, max_segments + 1):
        best_k = None
        for cuts in itertools.combinations(range(min_points, len(points) - min_points + 1), k - 1):
            bounds = (0,) + cuts + (len(points),)
            if any(b - a < min_points for a, b in zip(bounds, bounds[1:])):
                continue
            segments, errors = [], []
            for a, b in zip(bounds, bounds[1:]):
                alpha, beta, errs = fit(points[a:b], p, form)
                segments.append({"up_to_bytes": points[b - 1][0], "alpha": alpha, "beta": beta})
                errors += errs
            score = sum(e * e for e in errors)
            if best_k is None or score < best_k[0]:
                best_k = (score, segments, errors)
        # one more range must earn its keep: at least 20% less squared error
        if best_k is not None and (chosen is None or best_k[0] < 0.8 * chosen[0]):
            chosen = best_k
    segments, errors = chosen[1], chosen[2]
    segments[-1]["up_to_bytes"] = None  # open-ended
    return segments, errors


def segment_for(segments, n):
    """(alpha, beta) of the size range holding an n-byte message."""
    for seg in segments:
        if seg["up_to_bytes"] is None or n <= seg["up_to_bytes"]:
            return seg["alpha"], seg["beta"]
    return segments[-1]["alpha"], segments[-1]["beta"]
