"""Reference implementations in plain numpy/scipy, written apart from gradflow's code."""

import numpy as np
import scipy.integrate
import scipy.optimize
from scipy.special import log_expit

RTOL_REF = 1e-12
ATOL_REF = 1e-14


def _weights(m, loss, shift):
    """e^{shift} * (-l'(m)) from docs/mathematics.md §2 directly."""
    if loss == "exponential":
        return np.exp(shift - m)
    return np.exp(shift + log_expit(-m))  # -l'(m) = sigmoid(-m)


def scipy_physical(x, loss, t_eval, y0=None):
    """solve_ivp DOP853 of dw/dt = X^T(-l')/n, db/dt = mean(-l') (labels +1)."""
    n, d = x.shape
    y0 = np.zeros(d + 1) if y0 is None else y0

    def f(t, y):
        w, b = y[:d], y[d]
        g = _weights(x @ w + b, loss, 0.0)
        return np.append(g @ x / n, g.mean())

    sol = scipy.integrate.solve_ivp(f, (0.0, t_eval[-1]), y0, method="DOP853", t_eval=t_eval,
                                    rtol=RTOL_REF, atol=ATOL_REF)
    assert sol.success, sol.message
    return sol.y[:d].T, sol.y[d]


def scipy_log(x, loss, t_eval):
    """solve_ivp DOP853 in log time s = log(1+t),
    beta = b - s (docs/mathematics.md §5), labels +1."""
    n, d = x.shape

    def f(s, y):
        w, beta = y[:d], y[d]
        u = x @ w + beta  # m - s
        if loss == "exponential":
            ell = np.exp(-u)
        else:
            ell = np.exp(-u + log_expit(s + u))  # e^{s} sigmoid(-m)
        return np.append(ell @ x / n, ell.mean() - 1.0)

    s_eval = np.log1p(t_eval)
    sol = scipy.integrate.solve_ivp(f, (0.0, s_eval[-1]), np.zeros(d + 1), method="DOP853",
                                    t_eval=s_eval, rtol=RTOL_REF, atol=ATOL_REF)
    assert sol.success, sol.message
    return sol.y[:d].T, sol.y[d] + s_eval


def minimize_ltilde(x):
    """w* = argmin log(mean exp(-x w)) by scipy's trust-region Newton (docs/mathematics.md §8)."""
    n, d = x.shape

    def fun(w):
        u = -x @ w
        c = u.max()
        p = np.exp(u - c)
        sp = p.sum()
        p /= sp
        val = c + np.log(sp) - np.log(n)
        grad = -x.T @ p
        hess = x.T @ (p[:, None] * x) - np.outer(grad, grad)
        return val, grad, hess

    res = scipy.optimize.minimize(lambda w: fun(w)[0], np.zeros(d), jac=lambda w: fun(w)[1],
                                  hess=lambda w: fun(w)[2], method="trust-exact",
                                  options=dict(gtol=1e-13))
    return res.x, res.fun  # w*, log Ltilde(w*)


def logistic_optimum(x, y):
    """The maximum-likelihood fit (w, b) of logistic regression with a bias, labels
    +-1 (a finite optimum), by scipy's trust-region Newton on the mean log-loss."""
    rows = np.hstack([y[:, None] * x, y[:, None]])
    n = len(y)

    def fun(v):
        m = rows @ v
        s = np.exp(log_expit(-m))
        return (np.logaddexp(0, -m).mean(), -(rows.T @ s) / n,
                (rows.T * (s * (1 - s))) @ rows / n)

    res = scipy.optimize.minimize(lambda v: fun(v)[0], np.zeros(rows.shape[1]),
                                  jac=lambda v: fun(v)[1], hess=lambda v: fun(v)[2],
                                  method="trust-exact", options=dict(gtol=1e-15, maxiter=1000))
    return res.x[:-1], res.x[-1]


def linf_rel(a, b):
    return np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(np.asarray(b)))


def reference_solution(problem, t_max, rtol=1e-12):
    """(w, b) at `t_max` for any problem (labels ±1, bias or not, both losses): scipy's
    Radau in log time s = log(1+t), beta = b - s, with the Jacobian written out here."""
    x, y = np.asarray(problem.x), np.asarray(problem.y)
    n, d = x.shape
    z = y[:, None] * x
    a = y if problem.fit_bias else np.zeros(n)
    rows = np.hstack([z, a[:, None]])
    exponential = problem.loss.name == "exponential"

    def parts(s, v):
        m = z @ v[:d] + a * (s + v[d])
        if exponential:
            g = np.exp(s - m)  # e^{s} (-l'(m))
            c = g  # e^{s} l''(m)
        else:
            g = np.exp(s + log_expit(-m))
            c = np.exp(s + log_expit(m) + log_expit(-m))
        return g, c

    def f(s, v):
        g, _ = parts(s, v)
        out = rows.T @ g / n
        out[d] -= 1.0
        return out

    def jac(s, v):
        _, c = parts(s, v)
        return -(rows.T * c) @ rows / n

    s1 = np.log1p(t_max)
    sol = scipy.integrate.solve_ivp(f, (0.0, s1), np.zeros(d + 1), method="Radau", jac=jac,
                                    rtol=rtol, atol=rtol * 1e-2)
    assert sol.success, sol.message
    return sol.y[:d, -1], (sol.y[d, -1] + s1) if problem.fit_bias else 0.0
