"""Joint least-squares estimation of damped additive Holt-Winters, made cheap.

statsmodels' full estimation (``initialization_method="estimated"``) searches the four
smoothing parameters and the ``m + 2`` initial states together (26 numbers for a daily
season) with numerical gradients: about 0.6 s on 336 hourly points, with or without
its brute-force grid. The same least-squares problem is solved here over the four
parameters only, because for fixed parameters the one-step errors are *linear* in
the initial states, so the best initial states follow from one linear least-squares
solve (the initial states are "concentrated out").

For fixed parameters the model is a linear filter from the series ``y`` to its
one-step errors ``e``. In the lag operator ``L`` (innovations form: ``e = y - l - phi
b - s_{-m}``, ``l' = l + phi b + alpha e``, ``b' = phi b + alpha beta e``, ``s' = s_{-m}
+ gamma e``), eliminating the states gives ``A(L) y = Theta(L) e`` with

    A(L)     = (1 - phi L) (1 - L^m)
    Theta(L) = A(L) + L S(L) (alpha + phi (alpha beta - alpha) L)
               + phi alpha beta L (1 - L^m) + gamma L^m (1 - phi L)

where ``S(L) = 1 + L + ... + L^(m-1)``; both are of degree ``m + 1`` (a common factor
``1 - L``, the direction in which the level and the seasonal indices offset each
other, was divided out). Every choice of initial states gives one solution of this
recursion, and the solutions form an (m + 1)-dimensional affine family: the filter's
response to ``y`` from rest plus any free response. So the sum of squared errors
minimised over the initial states is the residual of regressing ``lfilter(A, Theta,
y)`` on the ``m + 1`` free responses of ``Theta`` (one ``scipy.signal.lfilter`` call
and one small ``lstsq``, well under a millisecond). L-BFGS-B then searches the four
parameters within statsmodels' bounds, started from the best of the previous
estimate (warm start) and a small grid. The grid is always tried: a search started
only from the previous estimate can stay at a bound corner for good (on the sparse
Helpdesk queue it held alpha = beta = gamma = 0, a level that never moved, for
months of daily re-estimations). The initial states of the chosen
parameters are then solved in the state space, and the engine's own recursion
(:meth:`forecasts.models.ets.FittedEts.update`) runs them to the last hour.

The minimised objective is statsmodels' (the sum of squared one-step errors), so the
result is a full refit's, reached by a shorter path: on real windows its sum of
squares is within 0.1 % of statsmodels' full estimation on most and within 1 % on all
(a local search can stop at a bound corner; tests/forecasts/test_ets_joint.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np
from scipy.optimize import minimize
from scipy.signal import lfilter

from forecasts.types import FloatArray

BOUNDS = ((0.0, 1.0), (0.0, 1.0), (0.0, 1.0), (0.8, 0.995))
"""alpha, beta, gamma, phi: statsmodels' default bounds for ExponentialSmoothing."""

GRID = tuple(product((0.1, 0.5, 0.9), (0.01, 0.2), (0.05, 0.3), (0.9, 0.98)))
"""Starting points tried with the previous estimate, if any (the best one is used)."""

MAX_ITER = 100
"""L-BFGS-B iterations at most (a warm start typically needs 5-15)."""


@dataclass(frozen=True)
class JointEstimate:
    """Parameters and initial states minimising the sum of squared one-step errors.

    Attributes:
        params: alpha, beta, gamma, phi (statsmodels' smoothing_level, smoothing_trend,
            smoothing_seasonal, damping_trend).
        level: initial level (the state before the first hour).
        trend: initial trend.
        season: initial seasonal indices, oldest first.
        sse: the minimised sum of squared one-step errors.
        evaluations: objective evaluations the search took.
    """

    params: tuple[float, float, float, float]
    level: float
    trend: float
    season: FloatArray
    sse: float
    evaluations: int


def polynomials(params: FloatArray, m: int) -> tuple[FloatArray, FloatArray]:
    """``A`` and ``Theta`` (coefficients of L^0 ... L^(m+1)) for ``params``."""
    alpha, beta, gamma, phi = (float(v) for v in params)
    ab = alpha * beta
    seasonal = np.zeros(m + 1)
    seasonal[0], seasonal[m] = 1.0, -1.0
    damp = np.array([1.0, -phi])
    a = np.convolve(damp, seasonal)
    theta = a.copy()
    theta[1 : m + 2] += np.convolve(np.ones(m), [alpha, phi * (ab - alpha)])
    theta[1:] += phi * ab * seasonal
    theta[m:] += gamma * damp
    return a, theta


def concentrated_sse(params: FloatArray, y: FloatArray, m: int) -> float:
    """The sum of squared one-step errors at ``params``, minimised over initial states.

    ``inf`` when the filter overflows (parameters far outside the forecastable region).
    """
    return Objective(y, m)(params)


class Objective:
    """:func:`concentrated_sse` on one series, its filter inputs built once.

    Row 0 of the inputs is the series (its response from rest), rows 1.. are zero with
    one unit initial condition each (the free responses); an estimation evaluates the
    objective about 50 times on the same series.
    """

    def __init__(self, y: FloatArray, m: int) -> None:
        order = m + 1
        self.m = m
        self.inputs = np.zeros((order + 1, len(y)))
        self.inputs[0] = y
        self.initial = np.zeros((order + 1, order))
        self.initial[1:] = np.eye(order)

    def __call__(self, params: FloatArray) -> float:
        a, theta = polynomials(params, self.m)
        with np.errstate(all="ignore"):
            out, _ = lfilter(a, theta, self.inputs, axis=1, zi=self.initial)
        if not np.isfinite(out.sum()):
            return float("inf")
        free = out[1:].T
        coef, *_ = np.linalg.lstsq(free, out[0], rcond=None)
        resid = out[0] - free @ coef
        return float(resid @ resid)


def initial_states(params: FloatArray, y: FloatArray, m: int) -> tuple[FloatArray, float]:
    """The initial state ``[level, trend, s_1..s_m]`` minimising the errors at ``params``.

    The errors from a zero state and their sensitivity to each initial state are both
    linear in the state; a least-squares solve picks the state. Where the level and
    the seasonal indices offset each other exactly, the minimum-norm state is returned
    (its forecasts are the same).

    From a zero state the recursion is ``s' = D s + g y``, ``e = y - w s`` (``D`` the
    transition less the gain times the observation row ``w``), so the sensitivity of
    ``e_t`` to the initial state is ``w D^t`` and the zero-state errors are ``y`` less
    ``y`` filtered by the impulse response ``w D^k g``. The rows ``w D^t`` are built by
    doubling (``log2 n`` matrix products, not ``n`` vector products):
    :func:`initial_states_by_recursion` is the same computation hour by hour.
    """
    trans, obs, gain = _state_space(params, m)
    discount = trans - np.outer(gain, obs)
    n = len(y)
    sensitivity = np.empty((n, m + 2))
    sensitivity[0] = obs
    power, filled = discount, 1
    while filled < n:
        take = min(filled, n - filled)
        sensitivity[filled : filled + take] = sensitivity[:take] @ power
        filled += take
        power = power @ power
    impulse = np.zeros(n)
    impulse[1:] = sensitivity[:-1] @ gain
    errors = y - lfilter(impulse, [1.0], y)
    return _solve_states(sensitivity, errors)


def initial_states_by_recursion(
    params: FloatArray, y: FloatArray, m: int
) -> tuple[FloatArray, float]:
    """:func:`initial_states` by running the state-space recursion hour by hour.

    The reference the vectorised version is tested against (a Python loop over the
    hours: about 1.5 ms on 336 hours against 0.3 ms).
    """
    trans, obs, gain = _state_space(params, m)
    discount = trans - np.outer(gain, obs)
    n = len(y)
    sensitivity = np.empty((n, m + 2))
    errors = np.empty(n)
    row, state = obs.copy(), np.zeros(m + 2)
    for t in range(n):
        sensitivity[t] = row
        row = row @ discount
        errors[t] = y[t] - obs @ state
        state = trans @ state + gain * errors[t]
    return _solve_states(sensitivity, errors)


def _state_space(params: FloatArray, m: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Transition matrix, observation row and gain of the state ``[l, b, s_1..s_m]``."""
    alpha, beta, gamma, phi = (float(v) for v in params)
    k = m + 2
    trans = np.zeros((k, k))
    trans[0, 0], trans[0, 1], trans[1, 1] = 1.0, phi, phi
    trans[2 : k - 1, 3:k] = np.eye(m - 1)
    trans[k - 1, 2] = 1.0
    obs = np.zeros(k)
    obs[0], obs[1], obs[2] = 1.0, phi, 1.0
    gain = np.zeros(k)
    gain[0], gain[1], gain[k - 1] = alpha, alpha * beta, gamma
    return trans, obs, gain


def _solve_states(sensitivity: FloatArray, errors: FloatArray) -> tuple[FloatArray, float]:
    """The least-squares (minimum-norm) initial state and its sum of squared errors."""
    x0, *_ = np.linalg.lstsq(sensitivity, errors, rcond=None)
    resid = errors - sensitivity @ x0
    return np.asarray(x0, dtype=np.float64), float(resid @ resid)


def estimate(
    y: FloatArray, m: int, start: tuple[float, float, float, float] | None = None
) -> JointEstimate:
    """Estimate parameters and initial states of ETS(A,Ad,A) on ``y`` jointly.

    Args:
        y: the series, oldest first (at least ``2 m`` points advised).
        m: the season length.
        start: the previous estimate's parameters (warm start), tried with
            :data:`GRID`; the search starts from the best of them.

    Raises:
        FloatingPointError: no finite estimate was found.
    """
    values = np.asarray(y, dtype=np.float64)
    objective = Objective(values, m)
    evaluations = 0

    def sse(p: FloatArray) -> float:
        nonlocal evaluations
        evaluations += 1
        return objective(p)

    starts = [np.asarray(p, dtype=np.float64) for p in GRID]
    if start is not None:
        starts.insert(0, np.clip(np.asarray(start, dtype=np.float64), *np.transpose(BOUNDS)))
    tried = [sse(p) for p in starts]
    first = starts[int(np.argmin(tried))]
    scale = tried[int(np.argmin(tried))]
    if not np.isfinite(scale):
        raise FloatingPointError("ets: no finite starting point")
    scale = scale if scale > 0 else 1.0
    found = minimize(
        lambda p: sse(p) / scale,
        first,
        method="L-BFGS-B",
        bounds=BOUNDS,
        options={"maxiter": MAX_ITER},
    )
    best = np.asarray(found.x, dtype=np.float64)
    if not np.isfinite(found.fun) or found.fun > 1.0:
        best = first
    x0, total = initial_states(best, values, m)
    if not (np.all(np.isfinite(x0)) and np.isfinite(total)):
        raise FloatingPointError("ets: non-finite initial states")
    params = (float(best[0]), float(best[1]), float(best[2]), float(best[3]))
    return JointEstimate(params, float(x0[0]), float(x0[1]), x0[2:].copy(), total, evaluations)
