"""Separability LP, hard-margin SVM (QP) and Wendel's formula (docs/mathematics.md §6, §16)."""

import math
from fractions import Fraction

import numpy as np
import pytest
import scipy.optimize
from threadpoolctl import threadpool_limits

import gradflow as gf
from gradflow._analysis._large_n import gardner_margin
from gradflow._analysis._separability import (
    LP_IPM_SIZE,
    is_separable,
    log_wendel,
    lp_separability,
    qp_margin,
    separability,
    wendel,
)


def _exact_wendel(n, d):
    return float(Fraction(sum(math.comb(n - 1, k) for k in range(d)), 2 ** (n - 1)))


@pytest.mark.parametrize(
    "n, d", [(10, 3), (20, 8), (40, 20), (40, 24), (100, 45), (999, 480), (1001, 300), (3, 2)]
)
def test_wendel_exact(n, d):
    assert wendel(n, d) == pytest.approx(_exact_wendel(n, d), rel=1e-12)


def test_wendel_large_n_log_space():
    assert wendel(100_000, 50_000) == pytest.approx(0.5, abs=1e-14)
    assert wendel(100_000, 100_000) == 1.0
    lw = log_wendel(100_000, 100)
    assert np.isfinite(lw) and lw < -6e4
    # symmetry: P(n, d) + P(n, n - d) = 1 for odd n - 1 ... (n even)
    assert wendel(2000, 900) + wendel(2000, 1100) == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "4"])
def test_wendel_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="`n`"):
        wendel(bad, 3)
    with pytest.raises(ValueError, match="`d`"):
        wendel(10, bad)


@pytest.mark.parametrize(
    "n, d, oracle", [(10, 3, 0.090), (20, 8, 0.180), (40, 20, 0.500), (40, 24, 0.900)]
)
def test_wendel_vs_lp_monte_carlo(n, d, oracle):
    """§16: Wendel vs LP Monte Carlo; LP and QP agree on every instance."""
    draws = 150
    seps = []
    for k in range(draws):
        s = separability(gf.gaussian_problem(n, d, 1.0, seed=1000 * n + k))
        assert s.agree, (n, d, k, s.lp_value, s.qp_status)
        seps.append(s.separable)
    p = wendel(n, d)
    assert p == pytest.approx(oracle, abs=5e-4)  # docs/mathematics.md §16 lists "MC vs Wendel"
    se = math.sqrt(p * (1 - p) / draws)
    assert abs(np.mean(seps) - p) < 4 * se


@pytest.fixture(scope="module")
def separable():
    problem = gf.gaussian_problem(20, 15, 1.5, seed=0)
    return problem, separability(problem)


def test_svm_dual_equals_hull_distance(separable):
    problem, s = separable
    z = np.asarray(problem.z)
    assert s.separable and s.agree and s.qp_status == "solved"
    # Σα γ² = 1, u = Z^T α, margin attained on the support vectors only
    assert np.sum(s.alpha) * s.margin**2 == pytest.approx(1.0, rel=1e-9)
    u = z.T @ s.alpha
    np.testing.assert_allclose(u / np.linalg.norm(u), s.direction, atol=1e-9)
    proj = z @ s.direction
    assert proj.min() == pytest.approx(s.margin, rel=1e-9)
    np.testing.assert_allclose(proj[s.support], s.margin, rtol=1e-6)
    assert np.all(s.alpha[~s.support] < 1e-8)
    # origin–hull distance by an independent solver
    n = z.shape[0]
    with threadpool_limits(1):
        res = scipy.optimize.minimize(
            lambda a: 0.5 * np.sum((z.T @ a) ** 2),
            np.full(n, 1.0 / n),
            jac=lambda a: z @ (z.T @ a),
            bounds=[(0, None)] * n,
            constraints=[{"type": "eq", "fun": lambda a: a.sum() - 1, "jac": lambda a: np.ones(n)}],
            method="SLSQP",
            options={"ftol": 1e-16, "maxiter": 1000},
        )
    assert np.linalg.norm(z.T @ res.x) == pytest.approx(s.margin, rel=1e-7)


def test_inseparable_certificate():
    problem = gf.gaussian_problem(60, 15, 2.0, seed=3)
    s = separability(problem)
    assert not s.separable and s.agree and s.qp_status == "infeasible"
    assert s.margin == 0.0 and s.lp_value == pytest.approx(0.0, abs=1e-9)
    assert s.alpha.min() >= -1e-12 and s.alpha.sum() == pytest.approx(1.0)
    assert s.certificate_residual < 1e-9
    assert s.lp_gap < 1e-9


@pytest.mark.parametrize("d", [150, 210])
def test_interior_point_lp_equals_simplex(d):
    """Large problems (n·d > LP_IPM_SIZE) use HiGHS's interior-point method: same optimum,
    duality gap and certificate as the dual simplex, on both sides of λ = 1/2 (Wendel:
    P_sep = 7.5e-4 at d = 150, 0.9992 at d = 210)."""
    z = np.random.default_rng(d).standard_normal((360, d))
    z /= np.linalg.norm(z, axis=1).max()
    with threadpool_limits(1):
        ds = lp_separability(z, method="highs-ds")
        ipm = lp_separability(z, method="highs-ipm")
    assert ipm[0] == pytest.approx(ds[0], rel=1e-9, abs=1e-12)
    assert (ipm[0] > 1e-7) == (d > 180) and ipm[1] < 1e-9
    if ipm[0] > 1e-7:  # the LP direction separates with the optimal margin
        assert np.min(z @ ipm[3]) == pytest.approx(ipm[0], rel=1e-7)
    else:  # the dual is a convex combination of the points reaching the origin
        assert ipm[2].min() >= -1e-12 and np.linalg.norm(z.T @ ipm[2]) < 1e-9
    big = gf.gaussian_problem(700, 300, 1.0, seed=0)  # 2.1e5 entries: the default is IPM
    assert big.z.size > LP_IPM_SIZE and separability(big).agree


def test_is_separable_is_the_lp_decision_at_criticality():
    """The QP-only decision used by sweeps and bifurcation diagrams equals the LP's on
    draws at λ = 1/2 (n = 300), where both phases occur."""
    decisions = []
    with threadpool_limits(1):
        for k in range(12):
            z = np.random.default_rng([7, k]).standard_normal((300, 150))
            lp = lp_separability(z / np.linalg.norm(z, axis=1).max())[0] > 1e-7
            assert is_separable(z) == lp, k
            decisions.append(lp)
    assert 0 < sum(decisions) < 12
    assert not is_separable(np.zeros((5, 2)))


def test_lp_equals_qp_near_critical():
    """LP and QP decide the same on every instance, including λ = d/n ≈ 1/2."""
    for k in range(40):
        s = separability(gf.gaussian_problem(60, 30, 1.0, seed=k))
        assert s.agree, (k, s.lp_value, s.qp_status)
        if s.separable:
            assert s.margin > 0 and s.lp_value >= s.margin - 1e-9  # |u_j| <= 1 box ⊇ ball


def test_extended_points_of_reduced_model(separable):
    problem, s = separable
    e = separability(problem, extended=True)
    assert e.separable and e.extended
    # θ̂ = (γu, 1)/(1+γ²) has norm 1/sqrt(1+γ²): extended margin sqrt(1+γ²)
    assert e.margin == pytest.approx(math.sqrt(1 + s.margin**2), rel=1e-9)
    theta = e.direction / e.margin
    expected = np.r_[s.margin * s.direction, 1.0] / (1 + s.margin**2)
    np.testing.assert_allclose(theta, expected, atol=1e-9)


def test_margin_scales_with_sigma():
    a = separability(gf.gaussian_problem(30, 20, 1.0, seed=5))
    b = separability(gf.gaussian_problem(30, 20, 3.0, seed=5))
    assert b.margin == pytest.approx(3.0 * a.margin, rel=1e-9)


def test_tiny_margin_is_solved_exactly():
    # a near-critical draw with γ ~ 3e-3, where ADMM (OSQP) stalls
    z = np.random.default_rng([0, 27, 3]).standard_normal((60, 27))
    status, u, alpha = qp_margin(z)
    assert status == "solved"
    assert (z @ u).min() == pytest.approx(1.0, abs=1e-8)
    assert 1 / np.linalg.norm(u) == pytest.approx(0.0034305, rel=1e-4)


def test_gardner_oracle_values():
    np.testing.assert_allclose(
        gardner_margin(np.array([0.55, 0.6, 0.7, 0.8])), [0.0604, 0.1166, 0.2189, 0.3106],
        atol=6e-5,
    )
    assert gardner_margin(0.4) == 0.0
    eps = 1e-4
    assert gardner_margin(0.5 + eps) == pytest.approx(math.sqrt(math.pi / 2) * eps, rel=1e-3)


def test_rejects_non_problem():
    with pytest.raises(ValueError, match="`problem`"):
        separability(np.ones((3, 2)))
