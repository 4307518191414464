import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import log_expit

import gradflow as gf
from gradflow._loss import as_loss

M = np.array([-800.0, -30.0, -1.0, 0.0, 1e-3, 2.0, 29.9, 30.1, 100.0, 800.0])


def test_logistic_pieces():
    loss = gf.LogisticLoss()
    np.testing.assert_allclose(loss.value(jnp.asarray(M)), np.logaddexp(0, -M), rtol=1e-15)
    # log l(m): direct for moderate m; -m - e^{-m}/2 asymptotically
    direct = np.log(np.logaddexp(0, -M[:8]))
    np.testing.assert_allclose(loss.log_value(jnp.asarray(M[:8])), direct, rtol=1e-14)
    np.testing.assert_allclose(loss.log_value(jnp.asarray(M[8:])), -M[8:], rtol=1e-15)
    # log(-l'(m)) = log sigmoid(-m), to absolute 1e-14 (it is formed as a difference
    # at negative m; the weights e^{log rate} are then accurate to 1e-14 relative).
    np.testing.assert_allclose(loss.log_rate(jnp.asarray(M)), log_expit(-M), rtol=1e-14,
                               atol=1e-14)


def test_exponential_pieces():
    loss = gf.ExponentialLoss()
    np.testing.assert_allclose(loss.value(jnp.asarray(M[1:-1])), np.exp(-M[1:-1]), rtol=1e-15)
    np.testing.assert_allclose(loss.log_rate(jnp.asarray(M)), -M, rtol=1e-15)


def test_rates_match_autodiff():
    for name in ["logistic", "exponential"]:
        loss = as_loss(name)
        m = jnp.linspace(-20, 20, 41)
        g = jax.vmap(jax.grad(loss.value))(m)
        np.testing.assert_allclose(np.exp(loss.log_rate(m)), -g, rtol=1e-13)


@pytest.mark.parametrize("name", ["logistic", "exponential"])
def test_shifted_rate_and_curvature(name):
    # e^{c}(-l'(m)) and e^{c} l''(m) against scipy's log_expit (logistic) or e^{c-m},
    # for margins from -800 to 800 and clock shifts up to 700 (log time at t = 1e300),
    # wherever the result is a normal number; and the same as the generic form.
    loss = as_loss(name)
    m, c = (v.ravel() for v in np.meshgrid(M, [0.0, 1.0, 69.0, 700.0]))
    with np.errstate(over="ignore"):
        if name == "logistic":
            rate = np.exp(c + log_expit(-m))
            curvature = np.exp(c + log_expit(-m) + log_expit(m))
        else:
            rate = curvature = np.exp(c - m)
        normal = (rate > 1e-300) & (rate < 1e300) & (curvature > 1e-300)
    got = loss.shifted_rate_and_curvature(jnp.asarray(c - m), jnp.asarray(m))
    # the exponent c - m is exact here; its rounding (eps |c - m| <= 1e-13) bounds the
    # relative error
    np.testing.assert_allclose(np.asarray(got[0])[normal], rate[normal], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(got[1])[normal], curvature[normal], rtol=1e-12)
    generic = gf.AbstractLoss.shifted_rate_and_curvature(loss, jnp.asarray(c - m),
                                                         jnp.asarray(m))
    for a, b in zip(got, generic, strict=True):
        np.testing.assert_allclose(np.asarray(a)[normal], np.asarray(b)[normal], rtol=1e-12)


def test_exponential_train_loss_cannot_overflow_where_finite():
    # mean(e^{710}, e^{-10}) = 1.1e308 is finite although e^{710} overflows.
    p = gf.Problem(np.array([[0.0], [1.0]]), loss="exponential")
    val = float(p.train_loss(jnp.asarray([720.0]), jnp.asarray(-710.0)))  # m = (-710, 10)
    assert np.isfinite(val)
    assert val == pytest.approx(0.5 * np.exp(709.0) * np.e, rel=1e-12)
    w = jnp.asarray([0.0])
    # logistic at huge margins: tiny but not zero
    pl = gf.Problem(np.array([[1.0]]))
    assert float(pl.train_loss(w, jnp.asarray(700.0))) == pytest.approx(np.exp(-700.0), rel=1e-14)


def test_unknown_loss():
    with pytest.raises(ValueError, match="loss"):
        as_loss("square")


# --------------------------------------------------------------------------- dispatch by type

MBAR = np.array([-3.0, 0.0, 0.7, 5.0, 40.0])
S = np.array([0.0, 0.5, 1.3, 3.0, 8.0])


def test_gaussian_mean_is_each_loss_closed_form():
    """The population loss of a Gaussian margin lives on the loss: the exponential loss
    gives e^{-mbar + s^2/2} (docs/mathematics.md §4) and its log exactly, the logistic loss
    E softplus(-m) (scipy quadrature from the definition)."""
    from scipy.integrate import quad

    exp, logistic = gf.ExponentialLoss(), gf.LogisticLoss()
    mb, s = jnp.asarray(MBAR), jnp.asarray(S)
    np.testing.assert_allclose(exp.gaussian_mean(mb, s), np.exp(-MBAR + S**2 / 2), rtol=1e-15)
    np.testing.assert_allclose(exp.log_gaussian_mean(mb, s), -MBAR + S**2 / 2, rtol=1e-15)

    def by_quadrature(m, sd):  # E softplus(-m - sd g), g standard normal
        f = lambda g: np.exp(-g * g / 2) / np.sqrt(2 * np.pi) * np.logaddexp(0, -m - sd * g)
        return quad(f, -40, 40, epsabs=0, epsrel=1e-12, limit=200)[0]

    ref = [np.logaddexp(0, -m) if sd == 0 else by_quadrature(m, sd)
           for m, sd in zip(MBAR, S, strict=True)]
    np.testing.assert_allclose(logistic.gaussian_mean(mb, s), ref, rtol=1e-9)
    for loss in (exp, logistic):  # the log is the log of the same number
        np.testing.assert_allclose(np.exp(loss.log_gaussian_mean(mb, s)),
                                   loss.gaussian_mean(mb, s), rtol=1e-13)


def test_log_gaussian_mean_of_the_exponential_loss_does_not_overflow():
    # e^{-mbar + s^2/2} overflows for s = 40; its log is finite.
    exp = gf.ExponentialLoss()
    assert not np.isfinite(float(exp.gaussian_mean(0.0, 40.0)))
    assert float(exp.log_gaussian_mean(0.0, 40.0)) == 800.0


def test_max_curvature_is_the_sup_of_the_second_derivative():
    m = jnp.linspace(-10, 10, 2001)
    for loss in (gf.LogisticLoss(), gf.ExponentialLoss()):
        curv = jax.vmap(jax.grad(jax.grad(loss.value)))(m)
        if np.isfinite(loss.max_curvature):
            assert float(jnp.max(curv)) == pytest.approx(loss.max_curvature, rel=1e-12)
        else:  # unbounded: grows without limit as m -> -inf
            assert float(curv[0]) > 1e4
    assert gf.LogisticLoss.max_curvature == 0.25 and gf.ExponentialLoss.max_curvature == np.inf


def test_a_loss_without_its_gaussian_mean_cannot_be_instantiated():
    class Incomplete(gf.AbstractLoss):
        name = "incomplete"
        max_curvature = 1.0

        def value(self, m):
            return m

        def log_value(self, m):
            return m

        def log_rate_plus_margin(self, m):
            return m

        def log_curvature_plus_margin(self, m):
            return m

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()
