"""The flow of one two-point model from one initial point: what each case gives, and the
physical time that all cases share (docs/mathematics.md §11).

A case is an immutable `equinox.Module` (host-side numpy, never traced) holding the
constants of its closed forms. It gives $w(\\tau)$, $b(\\tau)$ and, where one exists,
the closed form of $\\log t(\\tau)$ and of its inverse. Elsewhere
$t = \\int_0^\\tau e^{b}d\\tau'$ is a Gauss–Legendre quadrature accumulated in
logarithms, inverted by bracketed Newton; both are defined once, here.
"""

import abc

import equinox as eqx
import numpy as np
import scipy.special as sc

from ._special import _GL_W, _GL_X, _PANEL, _bracketed_newton


class AbstractTwoPointFlow(eqx.Module):
    """The closed forms of one `TwoPointModel` from one initial point $(w_0, b_0)$."""

    sigma: eqx.AbstractVar[float]
    w0: eqx.AbstractVar[float]
    b0: eqx.AbstractVar[float]

    @abc.abstractmethod
    def wb(self, tau) -> tuple[np.ndarray, np.ndarray]:
        """$w(\\tau)$, $b(\\tau)$, arrays of the shape of `tau`."""

    @abc.abstractmethod
    def exact_log_t(self, tau) -> np.ndarray | None:
        """$\\log t(\\tau)$ in closed form, or `None` where this case has none."""

    @abc.abstractmethod
    def exact_tau(self, log_t) -> np.ndarray | None:
        """$\\tau$ at $\\log t$ in closed form, or `None` (then Newton inverts `log_t`)."""

    @property
    def physical_time(self) -> str:
        """How $t(\\tau)$ is obtained: `"exact"` or `"quadrature"`."""
        return "exact" if self.exact_log_t(np.zeros(0)) is not None else "quadrature"

    # ---- physical time
    def _panel_edges(self, tau_max):
        s2 = self.sigma**2
        geo = np.geomspace(min(1e-4 / s2, 1e-4), 1.0, 40)
        edges = np.concatenate([[0.0], geo[geo < tau_max]])
        if tau_max > 1.0:
            edges = np.concatenate([edges, np.arange(1.0, tau_max, _PANEL)])
        return np.unique(np.concatenate([edges, [tau_max]]))

    def _log_panel_integrals(self, lo, hi):
        """$\\log\\int_{lo}^{hi}e^{b}d\\tau$ per panel (Gauss–Legendre)."""
        half = 0.5 * (hi - lo)
        nodes = (0.5 * (hi + lo))[:, None] + half[:, None] * _GL_X
        _, b = self.wb(nodes.ravel())
        b = b.reshape(nodes.shape)
        with np.errstate(divide="ignore"):
            return sc.logsumexp(b + np.log(_GL_W), axis=1) + np.log(half)

    def log_t(self, tau) -> np.ndarray:
        """$\\log t(\\tau)$: the closed form where there is one, else the quadrature."""
        tau = np.asarray(tau, dtype=np.float64)
        exact = self.exact_log_t(tau)
        if exact is not None:
            return exact
        if tau.size == 0:
            return np.zeros(0)
        flat = tau.ravel()
        edges = self._panel_edges(float(flat.max()))
        edges = np.unique(np.concatenate([edges, flat]))
        logs = self._log_panel_integrals(edges[:-1], edges[1:])
        cum = np.concatenate([[-np.inf], np.logaddexp.accumulate(logs)])
        out = cum[np.searchsorted(edges, flat)]
        return out.reshape(tau.shape)

    def tau_of_log_t(self, log_t) -> np.ndarray:
        """Invert $\\log t(\\tau)$: the closed form where there is one, else Newton."""
        log_t = np.asarray(log_t, dtype=np.float64)
        exact = self.exact_tau(log_t)
        return exact if exact is not None else self._tau_newton(log_t)

    def _tau_newton(self, log_t):
        """Newton on $\\log t(\\tau)$ with $d\\log t/d\\tau = e^{b - \\log t}$, bracketed.

        With quadrature, $\\log t$ is tabulated once at the panel edges and each target is
        then solved inside its panel, where one Gauss–Legendre panel gives $\\log t$."""
        shape = log_t.shape
        target = log_t.ravel()
        out = np.zeros(target.shape)
        pos = np.isfinite(target)
        if not pos.any():
            return out.reshape(shape)
        tgt = target[pos]
        tau_hi = 1.0
        for _ in range(64):
            if self.log_t(np.array([tau_hi]))[0] >= tgt.max():
                break
            tau_hi *= 2.0
        exact = self.exact_log_t(np.zeros(1)) is not None
        if exact:
            lo, hi = np.zeros(tgt.shape), np.full(tgt.shape, tau_hi)
            base = None
        else:
            edges = self._panel_edges(tau_hi)
            logs = self._log_panel_integrals(edges[:-1], edges[1:])
            cum = np.concatenate([[-np.inf], np.logaddexp.accumulate(logs)])
            j = np.clip(np.searchsorted(cum, tgt, side="right") - 1, 0, edges.size - 2)
            lo, hi, base, start = edges[j], edges[j + 1], cum[j], edges[j]

        def log_t_at(x):
            if base is None:
                return self.log_t(x)
            return np.logaddexp(base, self._log_panel_integrals(start, x))

        def residual(x):  # d log t / d tau = e^{b - log t}
            lt_x = log_t_at(x)
            return lt_x - tgt, np.exp(self.wb(x)[1] - lt_x)

        out[pos] = _bracketed_newton(residual, 0.5 * (lo + hi), lo, hi, 1e-15)
        return out.reshape(shape)
