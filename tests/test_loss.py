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
