import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

import gradflow as gf
from gradflow._flow import ConformalState, as_clock

rng = np.random.default_rng(0)
X = rng.standard_normal((12, 5))
Y = np.where(rng.random(12) < 0.5, -1.0, 1.0)
W = jnp.asarray(0.3 * rng.standard_normal(5))


def problems():
    for loss in ["logistic", "exponential"]:
        yield gf.Problem(X, loss=loss)
        yield gf.Problem(X, Y, loss=loss)
        yield gf.Problem(X, Y, loss=loss, fit_bias=False)


def neg_grad(problem, w, b):
    g = jax.grad(lambda p: problem.train_loss(p.w, p.b))(gf.Params(w, b))
    return -np.asarray(g.w), -float(g.b) * (1.0 if problem.fit_bias else 0.0)


@pytest.mark.parametrize("problem", list(problems()))
def test_physical_field_is_minus_gradient(problem):
    b = jnp.asarray(0.4 if problem.fit_bias else 0.0)
    f = gf.PhysicalTime().vector_field(0.0, gf.Params(W, b), problem)
    gw, gb = neg_grad(problem, W, b)
    np.testing.assert_allclose(f.w, gw, rtol=1e-13, atol=1e-15)
    assert float(f.b) == pytest.approx(gb, rel=1e-13, abs=1e-15)


@pytest.mark.parametrize("problem", [p for p in problems() if p.fit_bias])
def test_conformal_field(problem):
    b, q = jnp.asarray(1.3), jnp.asarray(2.0)
    f = gf.ConformalTime().vector_field(0.0, ConformalState(gf.Params(W, b), q), problem)
    gw, gb = neg_grad(problem, W, b)
    np.testing.assert_allclose(f.params.w, np.exp(1.3) * gw, rtol=1e-13)
    assert float(f.params.b) == pytest.approx(np.exp(1.3) * gb, rel=1e-13)
    assert float(f.q) == pytest.approx(np.exp(1.3 - 2.0), rel=1e-15)


@pytest.mark.parametrize("problem", list(problems()))
def test_log_field(problem):
    s = 3.0
    beta = jnp.asarray(0.5 if problem.fit_bias else -s)  # without a bias b = beta + s = 0
    f = gf.LogTime().vector_field(s, gf.Params(W, beta), problem)
    gw, gb = neg_grad(problem, W, beta + s)
    np.testing.assert_allclose(f.w, np.exp(s) * gw, rtol=1e-13)
    assert float(f.b) == pytest.approx(np.exp(s) * gb - 1.0, rel=1e-13)


def test_log_field_keeps_digits_at_huge_times():
    # at s = 700 (t ~ 1e304), e^{s}(-l'(m)) is O(1) and must be computed without overflow.
    p = gf.Problem(X)
    f = gf.LogTime().vector_field(700.0, gf.Params(W, jnp.asarray(0.2)), p)
    u = X @ np.asarray(W) + 0.2
    np.testing.assert_allclose(f.w, np.exp(-u) @ X / 12, rtol=1e-13)


def test_clock_names():
    assert isinstance(as_clock("log"), gf.LogTime)
    with pytest.raises(ValueError, match="clock"):
        as_clock("lunar")
    with pytest.raises(ValueError, match="t_c"):
        gf.LogTime(t_c=0.0)


# ---------------------------------------------------------------- Jacobians (stiff solver)


def _states(problem):
    """A state of each clock at a moderate point (mixed signs of the margins)."""
    b = jnp.asarray(0.4 if problem.fit_bias else 0.0)
    s = 2.5
    yield gf.PhysicalTime(), 0.0, gf.Params(W, b)
    yield gf.LogTime(), s, gf.Params(W, b - (0.0 if problem.fit_bias else s))
    if problem.fit_bias:
        yield gf.ConformalTime(), 0.3, ConformalState(gf.Params(W, b), jnp.asarray(1.1))


def _jacfwd(clock, time, state, problem):
    flat, unravel = jax.flatten_util.ravel_pytree(state)
    field = lambda v: jax.flatten_util.ravel_pytree(
        clock.vector_field(time, unravel(v), problem))[0]
    return np.asarray(jax.jacfwd(field)(flat))


@pytest.mark.parametrize("problem", list(problems()))
def test_analytic_jacobians_equal_jacfwd(problem):
    for clock, time, state in _states(problem):
        jac = np.asarray(clock.jacobian(time, state, problem))
        ref = _jacfwd(clock, time, state, problem)
        np.testing.assert_allclose(jac, ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max(),
                                   err_msg=clock.name)
        # the spectral-radius bound bounds the true spectral radius
        rho = np.abs(np.linalg.eigvals(ref)).max()
        assert rho <= float(clock.spectral_radius_bound(time, state, problem)) * (1 + 1e-12)
        # the linear part is symmetric negative semi-definite; in physical and log time it
        # is the whole Jacobian
        _, c = clock.field_and_curvature(time, state, problem)
        lin = np.asarray(clock.linear_part(time, state, problem, c))
        np.testing.assert_allclose(lin, lin.T, rtol=0, atol=1e-14 * np.abs(lin).max())
        assert np.linalg.eigvalsh(lin).max() <= 1e-14 * np.abs(lin).max()
        if clock.name != "conformal":
            np.testing.assert_array_equal(lin, jac)


def test_log_jacobian_keeps_digits_at_huge_times():
    # e^{s} l''(m) at s = 700 is O(1) (the margins grow like s) and must not overflow.
    p = gf.Problem(X, loss="logistic")
    state = gf.Params(W, jnp.asarray(0.2))
    jac = np.asarray(gf.LogTime().jacobian(700.0, state, p))
    assert np.all(np.isfinite(jac)) and np.abs(jac).max() > 1e-3
    np.testing.assert_allclose(jac, _jacfwd(gf.LogTime(), 700.0, state, p), rtol=1e-10,
                               atol=1e-12)
