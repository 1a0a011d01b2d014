"""The strong-Wolfe line search L-BFGS uses: how far to go along a descent direction.

Given the loss ``f`` and its slope ``gtd = g . d`` at ``x``, find a step ``t``
along ``d`` where both **strong Wolfe conditions** hold::

    f(x + t d) <= f + c1 t gtd             (sufficient decrease, Armijo)
    |g(x + t d) . d| <= -c2 gtd            (curvature: the slope has flattened)

with ``c1 = 1e-4`` and ``c2 = 0.9``. The first keeps the step from overshooting;
the second from stopping short, and it guarantees ``y . s > 0`` for the pair
L-BFGS stores, which keeps its inverse-Hessian estimate positive definite.

Two phases, line for line torch's ``_strong_wolfe`` (ported there from minFunc's
``WolfeLineSearch``): *bracketing* (``_bracket``) grows ``t`` until a point meets
both conditions or an interval is known to hold one; *zoom* (``_zoom``) shrinks
that interval by cubic interpolation (``cubic_interpolate``) until one is found.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["cubic_interpolate", "strong_wolfe"]


def cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None) -> float:
    """The minimiser of the cubic through ``(x1, f1)`` and ``(x2, f2)`` with slopes ``g1``, ``g2``.

    The cubic that matches two values and two slopes has its minimum at::

        d1 = g1 + g2 - 3 (f1 - f2) / (x1 - x2)
        d2 = sqrt(d1**2 - g1 g2)
        x  = x2 - (x2 - x1) (g2 + d2 - d1) / (g2 - g1 + 2 d2)      (x2 the farther point)

    clipped to ``bounds`` (default: the interval between the points). When
    ``d1**2 < g1 g2`` the cubic has no minimum and the midpoint of the bounds is
    taken. As torch's ``_cubic_interpolate`` (from minFunc's ``polyinterp``).
    """
    if bounds is not None:
        low, high = bounds
    else:
        low, high = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square < 0:
        return (low + high) / 2.0
    d2 = math.sqrt(d2_square)
    if x1 <= x2:
        min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(min_pos, low), high)


def strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """A step ``t`` along ``d`` meeting the strong Wolfe conditions: ``(f, g, t, evaluations)``.

    ``evaluate(t)`` returns the loss and the flat gradient at ``x + t d``; ``f``,
    ``g`` and ``gtd = g . d`` are at ``t = 0`` and ``t`` is the first trial. At
    most ``max_ls + 1`` evaluations; the zoom also stops once the interval is
    shorter than ``tolerance_change`` (times ``max |d|``). Returns the lowest
    point found, with its loss and gradient, and the number of evaluations.
    """
    bracket, done, ls_iter, evals = _bracket(evaluate, t, d, f, g, gtd, c1, c2, max_ls)
    if not done:
        bracket, low, evals = _zoom(
            evaluate, bracket, d, f, gtd, c1, c2, tolerance_change, max_ls, ls_iter, evals
        )
    else:
        low = 0
    t, f_new, g_new, _ = bracket[low]
    return f_new, g_new, t, evals


def _bracket(evaluate, t, d, f, g, gtd, c1, c2, max_ls):
    """Phase 1: points ``(t, f, g, g . d)`` around a step that meets the conditions.

    Returns ``(bracket, done, iterations, evaluations)``: ``[point]`` with ``done``
    when a trial met both conditions, else the two ends of an interval that holds
    one (the decrease failed, the loss rose, or the slope turned positive). Until
    then each trial is extrapolated by the cubic, within ``[t + 0.01 (t - t_prev), 10 t]``.
    """
    f_new, g_new = evaluate(t)
    evals, ls_iter = 1, 0
    gtd_new = float(g_new @ d)
    prev = (0.0, f, g, gtd)
    while ls_iter < max_ls:
        new = (t, f_new, g_new, gtd_new)
        if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= prev[1]):
            return [prev, new], False, ls_iter, evals
        if abs(gtd_new) <= -c2 * gtd:
            return [new], True, ls_iter, evals
        if gtd_new >= 0:
            return [prev, new], False, ls_iter, evals
        bounds = (t + 0.01 * (t - prev[0]), t * 10)
        t_next = cubic_interpolate(prev[0], prev[1], prev[3], t, f_new, gtd_new, bounds=bounds)
        prev, t = new, t_next
        f_new, g_new = evaluate(t)
        evals, ls_iter = evals + 1, ls_iter + 1
        gtd_new = float(g_new @ d)
    return [(0.0, f, g, gtd), (t, f_new, g_new, gtd_new)], False, ls_iter, evals  # out of evaluations


def _zoom(evaluate, bracket, d, f, gtd, c1, c2, tolerance_change, max_ls, ls_iter, evals):
    """Phase 2: shrink ``bracket`` around a point meeting the conditions; ``(bracket, low, evals)``.

    ``bracket[low]`` is the end with the lower loss. Each trial is the cubic's
    minimiser between the ends; one within 10% of an end makes little progress,
    so the second time in a row (or if it lies on or past an end) the trial is
    moved 10% in from the nearer end instead.
    """
    d_norm = float(np.max(np.abs(d)))
    insufficient_progress = False
    low, high = (0, 1) if bracket[0][1] <= bracket[-1][1] else (1, 0)
    while ls_iter < max_ls:
        if abs(bracket[1][0] - bracket[0][0]) * d_norm < tolerance_change:
            break
        (t0, f0, _, gtd0), (t1, f1, _, gtd1) = bracket
        t = cubic_interpolate(t0, f0, gtd0, t1, f1, gtd1)
        lo_t, hi_t = min(t0, t1), max(t0, t1)
        eps = 0.1 * (hi_t - lo_t)
        if min(hi_t - t, t - lo_t) < eps:
            if insufficient_progress or t >= hi_t or t <= lo_t:
                t = hi_t - eps if abs(t - hi_t) < abs(t - lo_t) else lo_t + eps
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False
        f_new, g_new = evaluate(t)
        evals, ls_iter = evals + 1, ls_iter + 1
        new = (t, f_new, g_new, float(g_new @ d))
        if f_new > f + c1 * t * gtd or f_new >= bracket[low][1]:
            bracket[high] = new  # no sufficient decrease, or not below the low end: the new high end
            low, high = (0, 1) if bracket[0][1] <= bracket[1][1] else (1, 0)
            continue
        if abs(new[3]) <= -c2 * gtd:
            bracket[low] = new  # both conditions hold
            break
        if new[3] * (bracket[high][0] - bracket[low][0]) >= 0:
            bracket[high] = bracket[low]  # the slope at t points back past the low end
        bracket[low] = new
    return bracket, low, evals
