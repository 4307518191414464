"""Linear stability, Lotka–Volterra states and asymptotics (docs/mathematics.md §7–9, §16)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

import gradflow as gf
from gradflow._analysis._asymptotics import asymptotics
from gradflow._analysis._fixed_point import fixed_point
from gradflow._analysis._separability import separability
from gradflow._analysis._stability import lotka_volterra, stability

N, D = 80, 24  # same shape as tests/test_fixed_point.py (shared compilation)


@pytest.fixture(scope="module")
def inseparable():
    problem = gf.gaussian_problem(N, D, 2.0, seed=0, loss="exponential")
    fp = fixed_point(problem)
    return problem, fp, stability(problem, fp)


@pytest.fixture(scope="module")
def separable():
    problem = gf.gaussian_problem(20, 15, 1.5, seed=0, loss="exponential")
    return problem, separability(problem)


def test_eigenvalues_match_numpy(inseparable):
    problem, fp, st = inseparable
    z, w = np.asarray(problem.z), np.asarray(fp.w)
    hess = (z * np.exp(-z @ w)[:, None]).T @ z / N
    h = np.linalg.eigvalsh(hess)
    np.testing.assert_allclose(np.asarray(st.eigenvalues), -h[::-1], rtol=1e-10, atol=1e-14)
    assert float(st.h1) == pytest.approx(h[0], rel=1e-10)
    v = np.asarray(st.slow_direction)
    np.testing.assert_allclose(hess @ v, h[0] * v, atol=1e-12)
    assert np.all(np.diff(np.asarray(st.eigenvalues)) >= 0)  # ascending
    assert int(st.unstable) == 0 and int(st.neutral) == 0
    assert float(st.grad_norm) < 1e-10


def test_log_time_jacobian_matches_jacfwd(inseparable):
    """diag(−H*/L̃*, −1) against jax.jacfwd of LogTime().vector_field (docs/mathematics.md §8)."""
    problem, fp, st = inseparable
    clock = gf.LogTime()
    state = gf.Params(fp.w, fp.log_ltilde)

    def field(flat):
        out = clock.vector_field(7.0, gf.Params(flat[:D], flat[D]), problem)
        return jnp.concatenate([out.w, out.b[None]])

    flat = jnp.concatenate([state.w, state.b[None]])
    assert float(jnp.max(jnp.abs(field(flat)))) < 1e-10  # a fixed point in log time
    jac = np.asarray(jax.jacfwd(field)(flat))
    np.testing.assert_allclose(np.sort(np.linalg.eigvals(jac).real), np.asarray(st.log_eigenvalues),
                               rtol=1e-9, atol=1e-12)
    assert np.abs(jac[:D, D]).max() < 1e-10 and np.abs(jac[D, :D]).max() < 1e-10
    assert float(st.log_rate) == pytest.approx(float(st.h1 / st.ltilde), rel=1e-12)


def test_stability_validation(inseparable, separable):
    problem, fp, _ = inseparable
    with pytest.raises(ValueError, match="`w`"):
        stability(problem, np.zeros(D + 1))
    with pytest.raises(ValueError, match="`rtol`"):
        stability(problem, fp, rtol=2.0)
    sep_problem, _ = separable
    with pytest.raises(ValueError, match="status 'separable'"):
        stability(sep_problem, fixed_point(sep_problem))


def test_lv_generalizing_state(inseparable):
    problem, fp, st = inseparable
    lv = lotka_volterra(problem)
    g = lv.generalizing
    assert lv.attractor == "generalizing" and lv.order_parameter == 0.0
    assert g.exists and g.stable
    expected = np.sort(np.r_[-1.0, -np.linalg.eigvalsh(
        _hess(problem, fp)) / float(fp.ltilde)])
    np.testing.assert_allclose(g.eigenvalues, expected, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(g.eigenvalues, np.asarray(st.log_eigenvalues), rtol=1e-9)
    assert g.order_parameter == pytest.approx(0.0, abs=1e-9)
    # the over-fitting state is neutral: extended SVM θ̂ = (0, 1)
    o = lv.overfitting
    assert not o.stable
    np.testing.assert_allclose(o.theta, np.r_[np.zeros(D), 1.0], atol=1e-8)


def _hess(problem, fp):
    z, w = np.asarray(problem.z), np.asarray(fp.w)
    return (z * np.exp(-z @ w)[:, None]).T @ z / problem.n


def test_lv_overfitting_state(separable):
    problem, s = separable
    lv = lotka_volterra(problem)
    assert lv.attractor == "overfitting" and not lv.generalizing.exists
    o = lv.overfitting
    assert o.stable and np.all(o.transverse < 0) and np.all(o.eigenvalues < 0)
    g = s.margin
    np.testing.assert_allclose(o.theta, np.r_[g * s.direction, 1.0] / (1 + g * g), atol=1e-12)
    assert lv.order_parameter == pytest.approx(g, rel=1e-9)
    assert np.count_nonzero(o.ell > 1e-12) <= problem.d + 1


@pytest.mark.parametrize("lam, sigma", [(0.49, 3.0), (0.3, 1.0), (0.51, 3.0), (0.8, 2.0)])
def test_two_point_model_exchange_of_stability(lam, sigma):
    """1-D model of docs/mathematics.md §9: x = (σ, σa), a = 2λ − 1."""
    a = 2 * lam - 1
    problem = gf.Problem(np.array([[sigma], [sigma * a]]))
    lv = lotka_volterra(problem)
    if lam < 0.5:
        assert lv.attractor == "generalizing"
        np.testing.assert_allclose(lv.generalizing.ell, [(1 - 2 * lam) / (1 - lam), 1 / (1 - lam)],
                                   rtol=1e-9)
        np.testing.assert_allclose(lv.generalizing.eigenvalues,
                                   np.sort([-1.0, -sigma**2 * (1 - 2 * lam)]), rtol=1e-9)
        fp = fixed_point(problem)
        w_star = math.log(1 / (1 - 2 * lam)) / (2 * (1 - lam)) / sigma
        assert float(fp.w[0]) == pytest.approx(w_star, rel=1e-10)
    else:
        assert lv.attractor == "overfitting"
        np.testing.assert_allclose(lv.overfitting.ell, [0.0, 2 / (1 + sigma**2 * a**2)], atol=1e-12)
        rate = -2 * sigma**2 * (2 * lam - 1) * (1 - lam) / (1 + sigma**2 * a**2)
        np.testing.assert_allclose(lv.overfitting.transverse, [rate], rtol=1e-9)
        np.testing.assert_allclose(lv.overfitting.eigenvalues, [-1.0], rtol=1e-9)


def test_asymptotics_predictions(inseparable, separable):
    problem, fp, _ = inseparable
    a = asymptotics(problem)
    assert not a.separable and a.test_accuracy == 1.0 and a.order_parameter == 0.0
    assert a.b_rate == 1.0 and a.w_rate == 0.0 and a.bias_ratio == math.inf
    assert a.b_offset == pytest.approx(float(fp.log_ltilde), abs=1e-14)
    sp, s = separable
    b = asymptotics(sp)
    g = s.margin
    assert b.separable and b.bias_ratio == pytest.approx(1 / g, rel=1e-9)
    assert b.b_rate == pytest.approx(1 / (1 + g * g), rel=1e-12)
    assert b.w_rate == pytest.approx(g / (1 + g * g), rel=1e-9)
    assert b.test_accuracy == pytest.approx(scipy.stats.norm.cdf(1 / (1.5 * g)), rel=1e-12)
    with pytest.raises(ValueError, match="reduced form"):
        asymptotics(gf.Problem(np.ones((3, 2)), np.array([1.0, -1.0, 1.0])))


def test_integrate_reaches_inseparable_asymptotics(inseparable):
    problem, fp, _ = inseparable
    traj = gf.integrate(problem, 1e30)
    assert traj.successful
    np.testing.assert_allclose(np.asarray(traj.w[-1]), np.asarray(fp.w), atol=1e-7)
    offset = float(traj.b[-1]) - math.log(float(traj.t[-1]))
    assert offset == pytest.approx(float(fp.log_ltilde), abs=1e-9)
    assert traj.test_accuracy[-1] > 0.999999


@pytest.mark.slow
def test_integrate_reaches_separable_asymptotics(separable):
    problem, _ = separable
    a = asymptotics(problem)
    traj = gf.integrate(problem, 1e300)
    assert traj.successful
    lt = np.log(np.asarray(traj.t)[-20:])
    b = np.asarray(traj.b)[-20:]
    wn = np.linalg.norm(np.asarray(traj.w)[-20:], axis=1)
    assert (b[-1] - b[0]) / (lt[-1] - lt[0]) == pytest.approx(a.b_rate, rel=1e-5)
    assert (wn[-1] - wn[0]) / (lt[-1] - lt[0]) == pytest.approx(a.w_rate, rel=1e-4)
    assert b[-1] / wn[-1] == pytest.approx(a.bias_ratio, rel=5e-3)  # O(1/log t)
    assert traj.test_accuracy[-1] == pytest.approx(a.test_accuracy, abs=1e-3)
