"""`RKC`: a stabilized explicit (Runge–Kutta–Chebyshev) diffrax solver for flows with a
real spectrum, which needs only an estimate of the spectral radius.

In physical and log time the flow's Jacobian is symmetric negative semi-definite, its
spectrum real in $[-\\rho, 0]$. An explicit method whose stability region stretches
along the negative real axis can then take steps bounded by accuracy alone, paying for
stability with more stages rather than with a linear solve: the $s$-stage method of
Sommeijer, Shampine & Verwer (*RKC: an explicit solver for parabolic PDEs*, J. Comput.
Appl. Math. 88, 1997; Hairer & Wanner II, §IV.2) is of order 2 and stable on
$[-\\beta_s, 0]$ with $\\beta_s \\approx 0.653\\,s^2$, so a step $h$ needs
$s \\approx \\sqrt{h\\rho/0.653}$ vector fields. No Jacobian is formed or factored: the
cost grows like $nd$, not $d^3$ (where `Radau5`'s eigendecomposition grows).

**Method.** Stages $Y_0 = y_0$, $Y_1 = y_0 + \\tilde\\mu_1 h F_0$ and, for
$j = 2, \\dots, s$,
$Y_j = (1 - \\mu_j - \\nu_j) y_0 + \\mu_j Y_{j-1} + \\nu_j Y_{j-2}
+ \\tilde\\mu_j h F(t_0 + c_{j-1}h, Y_{j-1}) + \\tilde\\gamma_j h F_0$, with
$w_0 = 1 + \\epsilon/s^2$ ($\\epsilon = 2/13$, damping), $w_1 = T_s'(w_0)/T_s''(w_0)$,
$b_j = T_j''(w_0)/T_j'(w_0)^2$ ($b_0 = b_1 = b_2$), $\\tilde\\mu_1 = b_1 w_1$,
$\\mu_j = 2w_0 b_j/b_{j-1}$, $\\nu_j = -b_j/b_{j-2}$, $\\tilde\\mu_j = 2w_1 b_j/b_{j-1}$,
$\\tilde\\gamma_j = -(1 - b_{j-1}T_{j-1}(w_0))\\tilde\\mu_j$ ($T_j$ the Chebyshev
polynomials, by their three-term recurrences). The node $c_j$ follows the same
recurrence as the stages, so $c_s = 1$. Local error estimate (RKC's):
$\\frac45(y_0 - y_1) + \\frac25 h (F_0 + F_1)$, of order $h^3$; $F_1$ is the next step's
$F_0$.

**Spectral radius.** A few power iterations a step with Jacobian-vector products
(`jax.jvp` of the field, which works for any clock), warm-started from the last step's
vector; the estimate is enlarged by `safety`. An underestimate shows as a growing
error estimate and a rejected step, never as a silently wrong answer.

**Arguments:** `power_iterations` per step (default 2), `safety` (default 1.2),
`max_stages` (default 1000; a step needing more returns an infinite error, and the
step-size controller shrinks it).
"""

from collections.abc import Callable
from typing import ClassVar

import diffrax
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

_DAMPING = 2.0 / 13.0
# Stages for a step h with spectral radius rho: s = 1 + floor(sqrt(1 + 1.54 h rho)), at
# least 2 (RKC's rule: 1.54 ~ 1/0.653, the stability bound beta_s / s^2 for this damping).
_STABILITY = 1.54
_INIT_POWER_ITERATIONS = 20


def _chebyshev_end(s):
    """$w_0 = 1 + \\epsilon/s^2$, $T_s'(w_0)$ and $T_s''(w_0)$ for `s` stages (closed
    forms with $w_0 = \\cosh\\theta$; the second from Chebyshev's equation)."""
    w0 = 1.0 + _DAMPING / s**2
    th = jnp.arccosh(w0)
    tp = s * jnp.sinh(s * th) / jnp.sinh(th)
    tpp = (s**2 * jnp.cosh(s * th) - w0 * tp) / (w0**2 - 1.0)
    return w0, tp, tpp


def stages_for(h_rho, max_stages):
    """Number of stages for a step with $h\\rho$ = `h_rho` (at least 2)."""
    s = 1.0 + jnp.floor(jnp.sqrt(1.0 + _STABILITY * h_rho))
    return jnp.clip(jnp.where(jnp.isfinite(s), s, max_stages + 1.0), 2.0, max_stages + 1.0)


def stability_bound(s):
    """$\\beta_s$: how far along the negative real axis the `s`-stage method is stable,
    the first $x > 0$ where $|R(-x)|$ exceeds 1, read off a fine grid of the stability
    polynomial $R(z) = 1 - b_sT_s(w_0) + b_sT_s(w_0 + w_1z)$ (numpy; documents the rule
    `stages_for`, which the tests check against it)."""
    w0, tp, tpp = (float(v) for v in _chebyshev_end(jnp.asarray(float(s))))
    w1, b = tp / tpp, tpp / tp**2
    th = np.arccosh(w0)
    x = np.linspace(0.0, 1.0 * s**2, 200 * s + 1)[1:]
    arg = w0 - w1 * x
    with np.errstate(invalid="ignore"):
        ts = np.where(np.abs(arg) <= 1, np.cos(s * np.arccos(np.clip(arg, -1, 1))),
                      np.sign(arg) ** s * np.cosh(s * np.arccosh(np.maximum(np.abs(arg), 1))))
    r = 1.0 - b * np.cosh(s * th) + b * ts
    return float(x[np.argmax(np.abs(r) > 1.0 + 1e-12)])


class RKC(diffrax.AbstractAdaptiveSolver):
    """Runge–Kutta–Chebyshev of order 2 (Sommeijer, Shampine & Verwer 1997): explicit,
    with as many stages per step as stability on $[-\\rho, 0]$ needs, $\\rho$ estimated by
    power iteration with Jacobian-vector products (see the module documentation).

    Suits flows with a real (or nearly real) spectrum: gradient flow in physical and log
    time. Works with diffrax's `diffeqsolve`, `PIDController`, `SaveAt` (cubic Hermite
    dense output), under `jit`, `vmap`, `lax.map` and `shard_map`, with any `ODETerm`.
    The final solver state (`SaveAt(solver_state=True)`) counts, over accepted steps, the
    vector fields of the stages (`num_stages`) and the Jacobian-vector products of the
    power iteration (`num_jvps`).

    **Arguments:**

    - `power_iterations`: power iterations per step (default 2), warm-started.
    - `safety`: factor on the estimated spectral radius (default 1.2).
    - `max_stages`: most stages in one step (default 1000).
    """

    power_iterations: int = 2
    safety: float = 1.2
    max_stages: int = 1000

    term_structure: ClassVar = diffrax.AbstractTerm
    interpolation_cls: ClassVar[Callable[..., diffrax.AbstractLocalInterpolation]] = (
        diffrax.ThirdOrderHermitePolynomialInterpolation.from_k
    )

    def __check_init__(self):
        if not (isinstance(self.power_iterations, int) and self.power_iterations >= 1):
            raise ValueError(f"`power_iterations` must be an integer >= 1; got "
                             f"{self.power_iterations!r}.")
        if not (self.safety >= 1.0 and np.isfinite(self.safety)):
            raise ValueError(f"`safety` must be a finite number >= 1; got {self.safety!r}.")
        if not (isinstance(self.max_stages, int) and self.max_stages >= 2):
            raise ValueError(f"`max_stages` must be an integer >= 2; got {self.max_stages!r}.")

    def order(self, terms):
        return 2

    def error_order(self, terms):
        return 3

    def _flat(self, terms, t, flat, unravel, args):
        return jax.flatten_util.ravel_pytree(terms.vf(t, unravel(flat), args))[0]

    def _power(self, terms, t, flat, unravel, args, v, iterations):
        """`iterations` power iterations from the unit vector `v`: (new unit vector,
        $\\|Jv\\|$ of the last one)."""

        def body(_, carry):
            v, _ = carry
            _, jv = jax.jvp(lambda u: self._flat(terms, t, u, unravel, args), (flat,), (v,))
            size = jnp.linalg.norm(jv)
            ok = jnp.isfinite(size) & (size > 0)
            return jnp.where(ok, jv / jnp.where(ok, size, 1.0), v), jnp.where(ok, size, 0.0)

        return jax.lax.fori_loop(0, iterations, body, (v, jnp.zeros((), flat.dtype)))

    def init(self, terms, t0, t1, y0, args):
        flat, unravel = jax.flatten_util.ravel_pytree(y0)
        f0 = self._flat(terms, t0, flat, unravel, args)
        # a fixed start with no special structure (deterministic, so runs repeat)
        v = jnp.asarray(np.random.default_rng(0).standard_normal(flat.shape), flat.dtype)
        v, rho = self._power(terms, t0, flat, unravel, args, v / jnp.linalg.norm(v),
                             _INIT_POWER_ITERATIONS)
        return dict(f0=f0, v=v, rho=rho, num_stages=jnp.asarray(0), num_jvps=jnp.asarray(0))

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        state = dict(solver_state)
        flat0, unravel = jax.flatten_util.ravel_pytree(y0)
        field = lambda t, u: self._flat(terms, t, u, unravel, args)
        if made_jump is not False:
            state["f0"] = jax.lax.cond(made_jump, lambda: field(t0, flat0), lambda: state["f0"])
        f0 = state["f0"]
        h = t1 - t0
        v, rho = self._power(terms, t0, flat0, unravel, args, state["v"],
                             self.power_iterations)
        s = stages_for(jnp.abs(h) * self.safety * rho, self.max_stages)
        too_many = s > self.max_stages
        s = jnp.minimum(s, self.max_stages)
        w0, tp_s, tpp_s = _chebyshev_end(s)
        w1 = tp_s / tpp_s
        b2 = 1.0 / (4.0 * w0**2)  # T_2'' / T_2'^2 = 4 / (4 w0)^2
        mu1 = b2 * w1
        y1 = flat0 + (mu1 * h) * f0

        def body(c):
            j = c["j"]
            t_j = 2 * w0 * c["t1"] - c["t2"]
            tp_j = 2 * c["t1"] + 2 * w0 * c["tp1"] - c["tp2"]
            tpp_j = 4 * c["tp1"] + 2 * w0 * c["tpp1"] - c["tpp2"]
            b_j = tpp_j / tp_j**2
            mu = 2 * w0 * b_j / c["b1"]
            nu = -b_j / c["b2"]
            mut = 2 * w1 * b_j / c["b1"]
            gam = -(1 - c["b1"] * c["t1"]) * mut
            f = field(t0 + c["c1"] * h, c["y1"])
            y = (1 - mu - nu) * flat0 + mu * c["y1"] + nu * c["y2"] + (mut * h) * f \
                + (gam * h) * f0
            return dict(j=j + 1, y1=y, y2=c["y1"], c1=mu * c["c1"] + nu * c["c2"] + mut + gam,
                        c2=c["c1"], t1=t_j, t2=c["t1"], tp1=tp_j, tp2=c["tp1"], tpp1=tpp_j,
                        tpp2=c["tpp1"], b1=b_j, b2=c["b1"])

        one = jnp.ones((), flat0.dtype)
        init = dict(j=jnp.asarray(2.0, flat0.dtype), y1=y1, y2=flat0, c1=mu1 * one,
                    c2=0.0 * one, t1=w0, t2=one, tp1=one, tp2=0.0 * one, tpp1=0.0 * one,
                    tpp2=0.0 * one, b1=b2, b2=b2)
        out = jax.lax.while_loop(lambda c: c["j"] <= s, body, init)
        flat1 = out["y1"]
        f1 = field(t1, flat1)
        error = 0.8 * (flat0 - flat1) + (0.4 * h) * (f0 + f1)
        error = jnp.where(too_many, jnp.inf, error)
        y1 = unravel(flat1)
        dense_info = dict(y0=y0, y1=y1, k=jax.tree.map(
            lambda a, b: jnp.stack([a, b]), unravel(h * f0), unravel(h * f1)))
        state.update(f0=f1, v=v, rho=rho, num_stages=state["num_stages"] + s.astype(int),
                     num_jvps=state["num_jvps"] + self.power_iterations)
        return y1, unravel(error), dense_info, state, diffrax.RESULTS.successful

    def func(self, terms, t0, y0, args):
        return terms.vf(t0, y0, args)
