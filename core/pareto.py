"""The Pareto front of accuracy against a cost or a benefit. Pure Python: no Django.

A point is on the front when no other point is at least as good on both axes and strictly better on one:
higher accuracy always wins; on x, fewer parameters win (`x_higher_is_better=False`) or more samples/s win
(`x_higher_is_better=True`). Identical points are all on the front: neither dominates the other.
"""

from collections.abc import Sequence


def pareto_front(points: Sequence[tuple[float, float]], *, x_higher_is_better: bool) -> set[int]:
    """Indexes of the points (x, accuracy) on the front. O(n log n): one sort, one sweep."""
    sign = -1.0 if x_higher_is_better else 1.0
    # Best x first; at equal x the most accurate first, so the sweep meets a point's dominators before it.
    order = sorted(range(len(points)), key=lambda i: (sign * points[i][0], -points[i][1]))
    front: set[int] = set()
    best: tuple[float, float] | None = None  # the (x, y) of the last point that raised the best accuracy
    for index in order:
        x, y = points[index]
        if best is None or y > best[1]:
            front.add(index)
            best = (x, y)
        elif (x, y) == best:
            front.add(index)  # a duplicate of a front point
    return front
