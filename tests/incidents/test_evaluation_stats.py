"""The interval and test statistics of hallucination rates, against independently computed values.

Reference values were computed once with SciPy 1.17.1 (``scipy.stats.binomtest(k, n)
.proportion_ci(method="wilson" | "exact")`` at 95 %, ``scipy.special.betainc`` and
``betaincinv``, and the pooled two-proportion z-test from ``scipy.stats.norm.sf``) and are
written down here; the code under test uses no SciPy.
"""

import math

import pytest

from incidents.services import stats

TOLERANCE = 1e-9

# (k, n): ((Wilson low, high), (Clopper–Pearson low, high)), from SciPy 1.17.1 binomtest.
REFERENCE_INTERVALS = {
    (0, 10): ((0.0, 0.27753279986288926), (0.0, 0.30849710781876294)),
    (5, 10): ((0.236593090512564, 0.7634069094874361), (0.1870860284474045, 0.8129139715525955)),
    (37, 100): ((0.28182360534324535, 0.4677947041905709), (0.2755665796145391, 0.4723516405516859)),
    (100, 100): ((0.9630065017930143, 1.0), (0.9637833073548094, 1.0)),
    (1, 1): ((0.20654931437723745, 1.0), (0.025000000000000022, 1.0)),
    (0, 1): ((0.0, 0.7934506856227626), (0.0, 0.975)),
    (7, 19): ((0.1914951274513508, 0.5896046683519693), (0.16288587215509961, 0.6164220766855937)),
    (3, 1000): (
        (0.0010207838811386186, 0.008783014053503173),
        (0.0006190999316499173, 0.008742023238657654),
    ),
    (1, 100000): (
        (1.765247730378316e-06, 5.664709659040965e-05),
        (2.5317842743932826e-07, 5.571516034432556e-05),
    ),
    (12345, 100000): (
        (0.12142561775452174, 0.12550331116056454),
        (0.12141710670788443, 0.125504760848672),
    ),
    (99999, 100000): (
        (0.9999433529034095, 0.9999982347522695),
        (0.9999442848396557, 0.9999997468215721),
    ),
}


def _close(actual, expected):
    return all(abs(a - e) <= TOLERANCE for a, e in zip(actual, expected, strict=True))


@pytest.mark.parametrize(("k", "n"), list(REFERENCE_INTERVALS))
def test_it_computes_the_wilson_interval_of_the_reference(k, n):
    assert _close(stats.wilson_interval(k, n), REFERENCE_INTERVALS[k, n][0])


@pytest.mark.parametrize(("k", "n"), list(REFERENCE_INTERVALS))
def test_it_computes_the_clopper_pearson_interval_of_the_reference(k, n):
    assert _close(stats.clopper_pearson_interval(k, n), REFERENCE_INTERVALS[k, n][1])


def test_it_pins_the_bounds_at_zero_and_all_successes_exactly():
    assert stats.wilson_interval(0, 50)[0] == 0.0
    assert stats.wilson_interval(50, 50)[1] == 1.0
    assert stats.clopper_pearson_interval(0, 50)[0] == 0.0
    assert stats.clopper_pearson_interval(50, 50)[1] == 1.0


def test_it_answers_the_whole_range_without_trials():
    assert stats.wilson_interval(0, 0) == (0.0, 1.0)
    assert stats.clopper_pearson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize(("k", "n"), [(-1, 10), (11, 10), (0, -1)])
def test_it_refuses_impossible_counts(k, n):
    with pytest.raises(ValueError):
        stats.wilson_interval(k, n)
    with pytest.raises(ValueError):
        stats.clopper_pearson_interval(k, n)


def test_it_refuses_counts_that_are_not_whole_numbers():
    with pytest.raises(TypeError):
        stats.wilson_interval(1.5, 10)


def test_it_picks_the_interval_by_method():
    assert stats.interval(37, 100, "wilson") == stats.wilson_interval(37, 100)
    assert stats.interval(37, 100, "clopper_pearson") == stats.clopper_pearson_interval(37, 100)
    with pytest.raises(ValueError):
        stats.interval(37, 100, "wald")


# (x, a, b): I_x(a, b), from scipy.special.betainc.
REFERENCE_BETA = {
    (0.3, 2, 5): 0.5798250000000003,
    (0.5, 0.5, 0.5): 0.5000000000000001,
    (0.9, 10, 3): 0.889130022255,
    (0.001, 1, 1000): 0.6323045752290359,
    (0.37, 37, 64): 0.5376614678356895,
}

# (p, a, b): the x with I_x(a, b) = p, from scipy.special.betaincinv.
REFERENCE_INVERSE_BETA = {
    (0.025, 37, 64): 0.2755665796145515,
    (0.975, 38, 63): 0.47235164055168316,
    (0.5, 2, 2): 0.5,
    (0.01, 0.5, 3): 2.8445523288735243e-05,
}


@pytest.mark.parametrize(("x", "a", "b"), list(REFERENCE_BETA))
def test_it_computes_the_regularized_incomplete_beta(x, a, b):
    assert abs(stats.regularized_beta(x, a, b) - REFERENCE_BETA[x, a, b]) <= TOLERANCE


@pytest.mark.parametrize(("p", "a", "b"), list(REFERENCE_INVERSE_BETA))
def test_it_inverts_the_regularized_incomplete_beta(p, a, b):
    assert abs(stats.inverse_regularized_beta(p, a, b) - REFERENCE_INVERSE_BETA[p, a, b]) <= TOLERANCE


def test_the_inverse_round_trips_and_keeps_the_ends():
    for p in (1e-6, 0.025, 0.5, 0.975, 1 - 1e-6):
        x = stats.inverse_regularized_beta(p, 3.5, 120)
        assert abs(stats.regularized_beta(x, 3.5, 120) - p) <= 1e-12
    assert stats.inverse_regularized_beta(0.0, 2, 3) == 0.0
    assert stats.inverse_regularized_beta(1.0, 2, 3) == 1.0
    assert stats.regularized_beta(0.0, 2, 3) == 0.0
    assert stats.regularized_beta(1.0, 2, 3) == 1.0


# (k1, n1, k2, n2): (difference, z, two-sided p, pooled standard error), with scipy.stats.norm.sf.
REFERENCE_TESTS = {
    (37, 100, 25, 100): (-0.12, -1.8346822357102754, 0.0665527859043755, 0.06540642170307133),
    (10, 200, 30, 250): (0.06999999999999999, 2.592790191205172, 0.009520082831889145, 0.026997942308422118),
}


@pytest.mark.parametrize("counts", list(REFERENCE_TESTS))
def test_it_computes_the_two_proportion_test(counts):
    result = stats.two_proportion_test(*counts)
    assert _close(result, REFERENCE_TESTS[counts])


def test_the_two_proportion_test_handles_empty_and_equal_extremes():
    assert stats.two_proportion_test(0, 0, 3, 10) == (None, None, None, None)
    assert stats.two_proportion_test(3, 10, 0, 0) == (None, None, None, None)
    assert stats.two_proportion_test(0, 10, 0, 20) == (0.0, 0.0, 1.0, 0.0)
    assert stats.two_proportion_test(10, 10, 20, 20) == (0.0, 0.0, 1.0, 0.0)
    result = stats.two_proportion_test(0, 50, 50, 50)
    assert result.difference == 1.0 and result.p_value < 1e-20


COUNTS = {"samples": 100, "attempted": 80, "correct": 50, "hallucinated": 25}


@pytest.mark.parametrize(
    ("basis", "expected"),
    [
        ("all_samples", (25, 100)),
        ("attempted", (25, 80)),
        ("non_correct", (25, 50)),
    ],
)
def test_it_takes_the_rate_on_its_basis(basis, expected):
    assert stats.rate_counts(basis, **COUNTS) == expected


def test_the_claims_basis_needs_claim_counts():
    assert stats.rate_counts("claims", **COUNTS, claims=400, hallucinated_claims=31) == (31, 400)
    with pytest.raises(ValueError):
        stats.rate_counts("claims", **COUNTS)
    with pytest.raises(ValueError):
        stats.rate_counts("median", **COUNTS)


def test_a_basis_may_be_empty():
    assert stats.rate_counts("non_correct", samples=5, attempted=5, correct=5, hallucinated=0) == (0, 0)
    assert not math.isnan(stats.wilson_interval(0, 0)[1])
