"""Statistics of hallucination rates: intervals, the rate's basis and comparing two rates.

Pure functions of counts (no Django, no database), so evaluation services, the API and reports
compute the same figures.

Intervals
---------
Both intervals are two-sided at 95 % by default and always lie within ``[0, 1]``.

- :func:`wilson_interval`, the Wilson score interval, in closed form. It stays inside
  ``[0, 1]`` and keeps close to its nominal coverage for small samples and for rates near 0 or
  1, where the textbook Wald interval collapses to a single point.
- :func:`clopper_pearson_interval`, the exact interval from the beta distribution: never below
  its nominal coverage, hence wider. Its bounds are quantiles of beta distributions, computed
  from the regularized incomplete beta function (:func:`regularized_beta`, a continued
  fraction evaluated with the modified Lentz method) and its inverse
  (:func:`inverse_regularized_beta`, Newton steps kept inside a shrinking bisection bracket).

With no trials (``n == 0``) nothing is known and both return ``(0.0, 1.0)``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

Z_95 = 1.959963984540054
"""The standard normal quantile at 0.975: the half-width, in standard errors, of a 95 % interval."""

_TINY = 1e-300  # keeps Lentz's denominators away from zero
_CF_EPS = 1e-16
_CF_MAX_ITERATIONS = 100_000
_INVERSE_TOLERANCE = 1e-15
_INVERSE_MAX_ITERATIONS = 300


def _require_counts(k: int, n: int) -> None:
    if isinstance(k, bool) or isinstance(n, bool) or not isinstance(k, int) or not isinstance(n, int):
        raise TypeError("Counts must be integers.")
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"Need 0 <= k <= n, got k={k}, n={n}.")


# --- Wilson -------------------------------------------------------------------------------------


def wilson_interval(k: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval for ``k`` successes in ``n`` trials.

    ``(k + z²/2) / (n + z²)  ±  z · sqrt(k (n − k) / n + z²/4) / (n + z²)``.
    At ``k == 0`` the lower bound is exactly 0 and at ``k == n`` the upper bound exactly 1 (the
    formula gives them up to rounding).
    """
    _require_counts(k, n)
    if n == 0:
        return 0.0, 1.0
    z2 = z * z
    denominator = n + z2
    centre = (k + z2 / 2) / denominator
    half_width = z * math.sqrt(k * (n - k) / n + z2 / 4) / denominator
    low = 0.0 if k == 0 else max(0.0, centre - half_width)
    high = 1.0 if k == n else min(1.0, centre + half_width)
    return low, high


# --- The regularized incomplete beta function and its inverse ------------------------------------


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _beta_continued_fraction(x: float, a: float, b: float) -> float:
    """The continued fraction of ``I_x(a, b)`` (Abramowitz & Stegun 26.5.8), evaluated with the
    modified Lentz method; it converges quickly for ``x < (a + 1) / (a + b + 2)``."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < _TINY:
        d = _TINY
    d = 1.0 / d
    result = d
    for m in range(1, _CF_MAX_ITERATIONS + 1):
        m2 = 2 * m
        # The even step of the fraction ...
        numerator = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + numerator * d
        d = _TINY if abs(d) < _TINY else d
        c = 1.0 + numerator / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        result *= d * c
        # ... and the odd one.
        numerator = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + numerator * d
        d = _TINY if abs(d) < _TINY else d
        c = 1.0 + numerator / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        delta = d * c
        result *= delta
        if abs(delta - 1.0) < _CF_EPS:
            return result
    raise ArithmeticError(f"The incomplete beta fraction did not converge (x={x}, a={a}, b={b}).")


def regularized_beta(x: float, a: float, b: float) -> float:
    """``I_x(a, b)``: the regularized incomplete beta function, i.e. the distribution function at
    ``x`` of the beta distribution with shape parameters ``a, b > 0``."""
    if a <= 0 or b <= 0:
        raise ValueError("The shape parameters must be positive.")
    if not 0.0 <= x <= 1.0:
        raise ValueError("x must lie in [0, 1].")
    if x == 0.0 or x == 1.0:
        return x
    log_front = a * math.log(x) + b * math.log1p(-x) - _log_beta(a, b)
    # The fraction converges fast on one side of the mean only; the other side uses the symmetry
    # I_x(a, b) = 1 − I_{1−x}(b, a).
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(x, a, b) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(1.0 - x, b, a) / b


def inverse_regularized_beta(p: float, a: float, b: float) -> float:
    """The ``x`` in ``[0, 1]`` with ``I_x(a, b) = p``: the ``p``-quantile of the beta distribution.

    ``I_x`` increases strictly in ``x``, so a bracket ``[low, high]`` around the root shrinks with
    every evaluation; a Newton step (the derivative is the beta density) is taken when it lands
    inside the bracket, a bisection otherwise. That converges quadratically near the root and
    cannot diverge.
    """
    if a <= 0 or b <= 0:
        raise ValueError("The shape parameters must be positive.")
    if not 0.0 <= p <= 1.0:
        raise ValueError("p must lie in [0, 1].")
    if p == 0.0 or p == 1.0:
        return p
    log_beta = _log_beta(a, b)
    low, high = 0.0, 1.0
    x = a / (a + b)  # the mean: a start inside the bracket
    for _ in range(_INVERSE_MAX_ITERATIONS):
        error = regularized_beta(x, a, b) - p
        if error == 0.0:
            return x
        if error < 0:
            low = x
        else:
            high = x
        log_density = (a - 1.0) * math.log(x) + (b - 1.0) * math.log1p(-x) - log_beta
        density = math.exp(min(log_density, 700.0))
        candidate = x - error / density if density > 0 else math.nan
        following = candidate if low < candidate < high else (low + high) / 2
        # Relative, since the quantiles of interest can be tiny (1 of 100 000 trials and fewer).
        if abs(following - x) <= _INVERSE_TOLERANCE * x or high - low <= _INVERSE_TOLERANCE * x:
            return following
        x = following
    return x


# --- Clopper–Pearson ----------------------------------------------------------------------------


def clopper_pearson_interval(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """The Clopper–Pearson ("exact") interval for ``k`` successes in ``n`` trials, at level
    ``1 − alpha``.

    The lower bound is the ``alpha/2`` quantile of Beta(k, n − k + 1) (0 when ``k == 0``), the
    upper bound the ``1 − alpha/2`` quantile of Beta(k + 1, n − k) (1 when ``k == n``).
    """
    _require_counts(k, n)
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must lie strictly between 0 and 1.")
    if n == 0:
        return 0.0, 1.0
    low = 0.0 if k == 0 else inverse_regularized_beta(alpha / 2, k, n - k + 1)
    high = 1.0 if k == n else inverse_regularized_beta(1 - alpha / 2, k + 1, n - k)
    return low, high


def interval(k: int, n: int, method: str) -> tuple[float, float]:
    """The 95 % interval by ``method``: ``"wilson"`` or ``"clopper_pearson"``
    (the values of ``incidents.choices.IntervalMethod``)."""
    if method == "wilson":
        return wilson_interval(k, n)
    if method == "clopper_pearson":
        return clopper_pearson_interval(k, n)
    raise ValueError(f"Unknown interval method {method!r}.")


# --- Comparing two rates ------------------------------------------------------------------------


class TwoProportionTest(NamedTuple):
    """The change from the first rate to the second, and whether it is more than chance.

    Every field is None when either side has no trials.
    """

    difference: float | None
    """``k2/n2 − k1/n1``: positive when the second rate is higher."""
    z: float | None
    p_value: float | None
    """Two-sided."""
    standard_error: float | None
    """Pooled: ``sqrt(p (1 − p) (1/n1 + 1/n2))`` with ``p = (k1 + k2) / (n1 + n2)``."""


def two_proportion_test(k1: int, n1: int, k2: int, n2: int) -> TwoProportionTest:
    """The two-sided z-test of ``k1/n1`` against ``k2/n2`` with the pooled standard error.

    The pooled standard error is the one under the null hypothesis that both rates are equal.
    It is 0 only when both rates are 0 or both are 1: then they are equal, so ``z`` is 0 and the
    p-value 1.
    """
    _require_counts(k1, n1)
    _require_counts(k2, n2)
    if n1 == 0 or n2 == 0:
        return TwoProportionTest(None, None, None, None)
    difference = k2 / n2 - k1 / n1
    pooled = (k1 + k2) / (n1 + n2)
    standard_error = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if standard_error == 0.0:
        return TwoProportionTest(difference, 0.0, 1.0, 0.0)
    z = difference / standard_error
    return TwoProportionTest(difference, z, math.erfc(abs(z) / math.sqrt(2)), standard_error)


# --- What the rate is a share of ----------------------------------------------------------------


class RateCounts(NamedTuple):
    numerator: int
    denominator: int


def rate_counts(
    basis: str,
    *,
    samples: int,
    attempted: int,
    correct: int,
    hallucinated: int,
    claims: int | None = None,
    hallucinated_claims: int | None = None,
) -> RateCounts:
    """The hallucination rate's numerator and denominator for a basis (the values of
    ``incidents.choices.RateBasis``):

    - ``all_samples``: hallucinated / samples. Abstentions count as not hallucinated, so a model
      that abstains more shows a lower rate.
    - ``attempted``: hallucinated / attempted, abstentions left out: how often an answer the
      model did give was a hallucination.
    - ``non_correct``: hallucinated / (samples − correct): of the samples not answered
      correctly, the share that were hallucinations rather than abstentions or unverifiable
      answers; high when a model guesses instead of saying it does not know.
    - ``claims``: hallucinated_claims / claims, over the individual claims checked (long-form
      generation); needs both claim counts.

    A denominator of 0 is returned as is; the rate is then undefined.
    """
    if basis == "all_samples":
        return RateCounts(hallucinated, samples)
    if basis == "attempted":
        return RateCounts(hallucinated, attempted)
    if basis == "non_correct":
        return RateCounts(hallucinated, samples - correct)
    if basis == "claims":
        if claims is None or hallucinated_claims is None:
            raise ValueError("The claims basis needs the numbers of claims and of hallucinated claims.")
        return RateCounts(hallucinated_claims, claims)
    raise ValueError(f"Unknown rate basis {basis!r}.")
