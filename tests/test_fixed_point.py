"""Fixed point w* by damped Newton, and the CGMT large-n curve (docs/mathematics.md §8, §16)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
import scipy.special
from threadpoolctl import threadpool_limits

import gradflow as gf
from gradflow._analysis._fixed_point import AnalysisResults, fixed_point, fixed_point_from_points
from gradflow._analysis._large_n import cgmt_fixed_point, cgmt_norm

N, D = 80, 24  # one compiled Newton solver serves every problem of this shape


@pytest.fixture(scope="module")
def solved():
    problem = gf.gaussian_problem(N, D, 2.0, seed=0)
    return problem, fixed_point(problem)


def test_converged_and_stationary(solved):
    problem, fp = solved
    assert fp.status == "successful" and fp.successful and fp.message == ""
    assert float(fp.grad_norm) < 1e-10
    z = np.asarray(problem.z)
    w = np.asarray(fp.w)
    p = scipy.special.softmax(-z @ w)
    assert np.linalg.norm(p @ z) < 1e-10  # origin as a convex combination (docs/mathematics.md §8)
    assert float(fp.log_ltilde) == pytest.approx(
        scipy.special.logsumexp(-z @ w) - math.log(N), abs=1e-14
    )
    assert 3 <= int(fp.steps) <= 30


def test_matches_scipy_minimizer(solved):
    problem, fp = solved
    z = np.asarray(problem.z)
    with threadpool_limits(1):
        res = scipy.optimize.minimize(
            lambda w: scipy.special.logsumexp(-z @ w),
            np.zeros(D),
            jac=lambda w: -(scipy.special.softmax(-z @ w) @ z),
            method="BFGS",
            options={"gtol": 1e-12},
        )
    np.testing.assert_allclose(np.asarray(fp.w), res.x, atol=1e-6)


def test_sigma_scaling(solved):
    """w* = w̃*/σ (docs/mathematics.md §8)."""
    _, fp = solved
    fp1 = fixed_point(gf.gaussian_problem(N, D, 1.0, seed=0))
    np.testing.assert_allclose(2.0 * np.asarray(fp.w), np.asarray(fp1.w), rtol=1e-9)
    assert float(fp.log_ltilde) == pytest.approx(float(fp1.log_ltilde), abs=1e-12)


def test_separable_has_no_fixed_point():
    fp = fixed_point(gf.gaussian_problem(20, 15, 1.0, seed=0))
    assert fp.status == "separable"
    assert np.all(np.isnan(np.asarray(fp.w)))
    assert "separable" in fp.message


def test_not_converged_is_reported(solved):
    problem, _ = solved
    with pytest.raises(RuntimeError, match="did not converge") as err:
        fixed_point(problem, max_steps=1)
    assert isinstance(err.value, gf.GradflowError) and err.value.result.steps == 1
    fp = fixed_point(problem, max_steps=1, throw=False)
    assert fp.status == "max_steps_reached" and not fp.successful


def test_newton_core_vmaps_and_detects_separable(solved):
    problem, fp = solved
    zs = jnp.stack([gf.gaussian_problem(N, D, 2.0, seed=s).z for s in (0, 1)])
    out = jax.vmap(lambda z: fixed_point_from_points(z))(zs)
    np.testing.assert_allclose(np.asarray(out.w[0]), np.asarray(fp.w), atol=1e-12)
    assert np.asarray(out.result == AnalysisResults.successful).all()
    # separable points: Newton finds a separating iterate (certificate), status separable
    sep = fixed_point_from_points(gf.gaussian_problem(N, 70, 1.0, seed=0).z)
    assert sep.status == "separable"


def test_validation(solved):
    problem, _ = solved
    with pytest.raises(ValueError, match="`gtol`"):
        fixed_point(problem, gtol=0.0)
    with pytest.raises(ValueError, match="`gtol`"):
        fixed_point(problem, gtol=0.5)  # a "fixed point" anywhere near the start
    with pytest.raises(ValueError, match="`max_steps`"):
        fixed_point(problem, max_steps=0)
    with pytest.raises(ValueError, match="`w0`"):
        fixed_point(problem, w0=np.zeros(D + 1))
    with pytest.raises(ValueError, match="`problem`"):
        fixed_point("x")


def test_cgmt_oracle_values():
    lams = [0.1, 0.2, 0.3, 0.4, 0.45, 0.48, 0.49, 0.499]
    oracle = [0.376, 0.666, 1.110, 2.070, 3.377, 5.883, 8.649, 28.76]
    np.testing.assert_allclose(cgmt_norm(np.array(lams)), oracle, rtol=1.5e-3)
    scaled = [cgmt_fixed_point(0.5 - e).r ** 2 * e for e in (1e-3, 1e-4, 1e-5, 1e-6)]
    np.testing.assert_allclose(scaled, [0.827, 0.848, 0.854, 0.856], atol=1.5e-3)
    near = cgmt_fixed_point(0.5 - 1e-6)
    assert near.ltilde == pytest.approx(0.377, abs=2e-3)
    assert near.c / near.r == pytest.approx(1.06, abs=5e-3)
    assert near.negative_fraction == pytest.approx(0.145, abs=1e-3)
    with pytest.raises(ValueError, match="`lam`"):
        cgmt_fixed_point(0.6)


def test_cgmt_vs_finite_n():
    """λ = 0.3 at n = 400: ‖w̃*‖ within 15% of the CGMT r (docs/mathematics.md §16: within 4% at
    n = 2000; at n = 400 the finite-size excess is ~5–10%)."""
    norms = [float(fixed_point(gf.gaussian_problem(400, 120, 1.0, seed=s)).norm) for s in range(3)]
    assert np.mean(norms) == pytest.approx(cgmt_norm(0.3), rel=0.15)
