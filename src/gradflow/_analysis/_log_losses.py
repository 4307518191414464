"""Log-space losses of a problem at one parameter point, without under/overflow
(docs/mathematics.md §2, §4): the training and test log-losses that `grokking_time`'s
conditions compare with $\\log\\epsilon$, and $D(w)$, the late-time
$\\log(L_{test}/L_{train})$ of the exponential loss that `grokking_prediction` evaluates
at the fixed point (docs/mathematics.md §10)."""

import jax.numpy as jnp

from .._loss import ExponentialLoss
from .._ltilde import log_ltilde, log_mean_exp
from .._problem import Problem


def _log_test_loss(problem: Problem, w, b):
    """$\\log L_{test}$ without under/overflow (docs/mathematics.md §2, §4)."""
    loss = problem.loss
    if problem.x_test is not None:
        bias = b if problem.fit_bias else 0.0
        m = problem.y_test * (problem.x_test @ w + bias)
        return log_mean_exp(loss.log_value(m))
    return problem.population.log_loss(loss, w, b)


def _log_train_loss(problem: Problem, w, b):
    m = problem.margins(w, b)
    return log_mean_exp(problem.loss.log_value(m))


def _log_test_exp(problem: Problem, w):
    """$\\log\\mathbb E_{test}e^{-w\\cdot x}$: the test log-loss of the exponential loss
    minus $(-b)$, the $b$-independent part (reduced model)."""
    if problem.x_test is not None:
        return log_ltilde(problem.x_test, w)
    return problem.population.log_loss(ExponentialLoss(), w, jnp.asarray(0.0))


def _log_ratio_of_w(problem: Problem, w):
    """$D(w) = \\log\\mathbb E_{test}e^{-w\\cdot x} - \\log\\tilde L(w)$: the late-time
    $\\log(L_{test}/L_{train})$ of the exponential loss at weights $w$ (any $b$)."""
    return _log_test_exp(problem, w) - log_ltilde(problem.z, w)
