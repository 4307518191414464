"""Gradient flow in three clocks (docs/mathematics.md §3, §5).

Each clock is a strategy `equinox.Module` that says how to turn physical time and
parameters into its own time and state, gives the vector field `f(time, state, problem)`
(so `diffrax.ODETerm(clock.vector_field)` works directly, with the problem as `args`),
and maps back.

All three fields come from one expression: the per-sample gradient weight
$-\\ell'(m_i)$, multiplied by $e^{c}$ where $c$ is the clock's shift ($0$ in physical
time, $b$ in conformal time, $s$ in log time). It is evaluated as
$\\exp\\big((c - m_i) + [\\log(-\\ell'(m_i)) + m_i]\\big)$ where the bracket is bounded for
exponentially tailed losses and $c - m_i$ is formed without cancellation, so no clock
overflows or loses digits where the true value is finite. `tests/test_flow.py` checks
each field against `jax.grad` of the training loss.

Jacobians. With $\\hat a_i = (y_ix_i, a_i)$ and the clock-shifted curvature
$c_i = e^{c}\\ell''(m_i)$ (formed like the weights), the Jacobian of the physical and log
fields is $J = -\\frac1n\\sum_i c_i\\hat a_i\\hat a_i^\\top$: symmetric negative
semi-definite, a real spectrum in $[-\\rho, 0]$ with $\\rho \\le \\frac1n\\sum_i c_i
\\|\\hat a_i\\|^2$. The conformal field adds two low-rank terms (the derivative of its factor
$e^{b}$ and the $q$ equation). Each clock returns the curvature together with its field
(`field_and_curvature`, one pass over the data), its symmetric linear part
(`linear_part`, what the stiff solvers `Radau5` and `BDF` decompose), the full analytic
`jacobian` and a `spectral_radius_bound`; `tests/test_flow.py` checks them against
`jax.jacfwd` and `numpy.linalg.eigvals`.
"""

import abc
from typing import ClassVar

import diffrax
import equinox as eqx
import jax
import jax.flatten_util
import jax.numpy as jnp

from ._ltilde import weighted_gram
from ._problem import Params, Problem

jax.config.update("jax_enable_x64", True)


def _rates(problem: Problem, shift_minus_margin, margin):
    """$e^{c}(-\\ell'(m_i))$ and $e^{c}\\ell''(m_i)$ for the clock shift $c$, given
    $c - m_i$ and $m_i$ (the loss's `shifted_rate_and_curvature`)."""
    return problem.loss.shifted_rate_and_curvature(shift_minus_margin, margin)


def _gram(problem: Problem, c):
    """$-\\frac1n\\sum_i c_i\\hat a_i\\hat a_i^\\top$ with $\\hat a_i = (y_ix_i, a_i)$:
    the Jacobian of the physical and log fields, in the order of `Params(w, b)`."""
    n = problem.z.shape[0]
    ww = weighted_gram(problem.z, c)
    wb = (c[:, None] * problem.z).T @ problem.a
    bb = jnp.dot(c * problem.a, problem.a)
    top = jnp.concatenate([ww, wb[:, None]], axis=1)
    bottom = jnp.concatenate([wb, bb[None]])[None, :]
    return -jnp.concatenate([top, bottom], axis=0) / n


def row_norms(problem: Problem):
    """$\\|\\hat a_i\\|^2 = \\|x_i\\|^2 + a_i^2$, one per sample."""
    return jnp.sum(problem.z**2, axis=1) + problem.a**2


def _trace_bound(problem: Problem, c):
    """$\\frac1n\\sum_i c_i\\|\\hat a_i\\|^2 \\ge \\|J\\|_2$ for $J$ = `_gram(problem, c)`."""
    return jnp.dot(c, row_norms(problem)) / problem.z.shape[0]


def _descent(problem: Problem, g):
    """$\\frac1n\\sum_i g_i (y_i x_i, a_i)$: the (scaled) negative gradient in (w, b)."""
    n = problem.z.shape[0]
    # `g @ z` rather than `z.T @ g`: XLA on CPU runs the former several times faster.
    return (g @ problem.z) / n, (g @ problem.a) / n


class AbstractClock(eqx.Module):
    """A time variable for gradient flow.

    Subclasses define `initial_state`, `vector_field`, `time_of` (clock time of a
    physical time, where it is known in advance) and `params_of` (physical `t`, `Params`
    from a state at a clock time).
    """

    name: ClassVar[str]

    @abc.abstractmethod
    def initial_state(self, problem: Problem, y0: Params):
        """The state at physical time 0."""

    @abc.abstractmethod
    def initial_time(self):
        """The clock time at physical time 0."""

    @abc.abstractmethod
    def field_and_curvature(self, time, state, problem: Problem):
        """The right-hand side and the shifted curvatures $c_i = e^{c}\\ell''(m_i)$ of
        the samples (shape `(n,)`), from one pass over the data."""

    def vector_field(self, time, state, problem: Problem):
        """The right-hand side, in diffrax's `f(t, y, args)` form."""
        return self.field_and_curvature(time, state, problem)[0]

    def linear_part(self, time, state, problem: Problem, curvature):
        """The symmetric negative semi-definite part of the Jacobian, as a matrix in the
        order of `jax.flatten_util.ravel_pytree(state)`, from the curvatures that
        `field_and_curvature` returned. In physical and log time it is the whole
        Jacobian."""
        del time, state
        return _gram(problem, curvature)

    def jacobian(self, time, state, problem: Problem):
        """The analytic Jacobian of `vector_field` with respect to the state, a matrix in
        the order of `jax.flatten_util.ravel_pytree(state)`."""
        _, c = self.field_and_curvature(time, state, problem)
        return self.linear_part(time, state, problem, c)

    def spectral_radius_bound(self, time, state, problem: Problem):
        """A cheap upper bound on the spectral radius of `jacobian` ($O(nd)$, no
        matrix formed)."""
        _, c = self.field_and_curvature(time, state, problem)
        return _trace_bound(problem, c)

    def term(self) -> "FlowTerm":
        """This clock's vector field as a diffrax term (`FlowTerm`)."""
        return FlowTerm(self)

    @abc.abstractmethod
    def physical(self, time, state) -> tuple[jax.Array, Params]:
        """Physical time $t$ and parameters at a clock time and state."""


class PhysicalTime(AbstractClock):
    """Physical gradient-flow time $t$: $\\dot w = \\frac1n\\sum_i(-\\ell'(m_i))y_ix_i$,
    $\\dot b = \\frac1n\\sum_i(-\\ell'(m_i))y_i$ (docs/mathematics.md §3). State: `Params(w, b)`."""

    name = "physical"

    def initial_state(self, problem, y0):
        return y0

    def initial_time(self):
        return jnp.asarray(0.0)

    def field_and_curvature(self, t, y: Params, problem: Problem):
        m = problem.margins(y.w, y.b)
        g, c = _rates(problem, -m, m)
        dw, db = _descent(problem, g)
        return Params(dw, db), c

    def time_of(self, t):
        return t

    def physical(self, t, y):
        return t, y


class ConformalState(eqx.Module):
    """State in conformal time: parameters and $q = \\log(1 + t)$."""

    params: Params
    q: jax.Array


class ConformalTime(AbstractClock):
    """Conformal time $\\tau$, $d\\tau = e^{-b}dt$ (paper Eq. 8; docs/mathematics.md §5).

    $\\frac{d\\theta}{d\\tau} = e^{b}(-\\nabla L)$, and $q = \\log(1+t)$ is carried as a
    state with $\\frac{dq}{d\\tau} = e^{b-q}$. For the exponential loss the $w$ equation
    is exactly the bias-free flow $\\frac{dw}{d\\tau} = -\\nabla\\tilde L(w)$; for the
    logistic loss it is a valid time change that is not decoupled. The end $\\tau$ of a
    run to $t_{max}$ is not known in advance: `integrate` stops on an event.
    """

    name = "conformal"

    def initial_state(self, problem, y0):
        return ConformalState(y0, jnp.asarray(0.0))

    def initial_time(self):
        return jnp.asarray(0.0)

    def field_and_curvature(self, tau, y: ConformalState, problem: Problem):
        w, b = y.params.w, y.params.b
        zw = problem.zw(w)
        m = zw + problem.a * b
        shift_minus_m = -zw + (1.0 - problem.a) * b
        g, c = _rates(problem, shift_minus_m, m)
        dw, db = _descent(problem, g)
        return ConformalState(Params(dw, db), jnp.exp(b - y.q)), c

    def linear_part(self, tau, y: ConformalState, problem, curvature):
        """$e^{b}$ times the physical Jacobian in $(w, b)$, and $-e^{b-q}$ for $q$."""
        gram = _gram(problem, curvature)
        d1 = gram.shape[0]
        out = jnp.zeros((d1 + 1, d1 + 1), gram.dtype).at[:d1, :d1].set(gram)
        return out.at[d1, d1].set(-jnp.exp(y.params.b - y.q))

    def jacobian(self, tau, y: ConformalState, problem):
        field, c = self.field_and_curvature(tau, y, problem)
        jac = self.linear_part(tau, y, problem, c)
        d1 = jac.shape[0] - 1
        # d/db of the factor e^{b}: the field itself in the b column; dq/dtau = e^{b-q}.
        f_theta = jnp.concatenate([field.params.w, field.params.b[None]])
        jac = jac.at[:d1, d1 - 1].add(f_theta)
        return jac.at[d1, d1 - 1].add(field.q)

    def spectral_radius_bound(self, tau, y: ConformalState, problem):
        field, c = self.field_and_curvature(tau, y, problem)
        f_theta = jnp.sqrt(jnp.sum(field.params.w**2) + field.params.b**2)
        return _trace_bound(problem, c) + f_theta + jnp.sqrt(2.0) * field.q

    def physical(self, tau, y):
        return jnp.expm1(y.q), y.params


class LogTime(AbstractClock):
    """Log time $s = \\log(t + t_c)$ with $\\beta = b - s$ (docs/mathematics.md §5).

    $\\frac{dw}{ds} = \\frac1n\\sum_i y_ix_i\\ell_i$, $\\frac{d\\beta}{ds} = \\frac1n\\sum_i
    a_i\\ell_i - 1$, $\\ell_i = (t+t_c)(-\\ell'(m_i))$, $m_i = y_iw\\cdot x_i + a_i(s+\\beta)$.
    Autonomous for the exponential loss; the generalizing state is a hyperbolic fixed
    point (docs/mathematics.md §8), and the clock reaches $t = 10^{30}$ and beyond in a few hundred
    steps. State: `Params(w, beta)`.

    **Arguments:** `t_c > 0` (default 1); GF is autonomous, so the shift is exact.
    """

    t_c: float = 1.0

    name = "log"

    def __check_init__(self):
        if not (self.t_c > 0):
            raise ValueError(f"`t_c` must be positive; got {self.t_c!r}.")

    def initial_state(self, problem, y0):
        return Params(y0.w, y0.b - jnp.log(self.t_c))

    def initial_time(self):
        return jnp.log(jnp.asarray(self.t_c, dtype=jnp.float64))

    def time_of(self, t):
        return jnp.log(t + self.t_c)

    def field_and_curvature(self, s, y: Params, problem: Problem):
        zw = problem.zw(y.w)
        a = problem.a
        m = zw + a * (s + y.b)
        shift_minus_m = -zw - a * y.b + (1.0 - a) * s
        g, c = _rates(problem, shift_minus_m, m)
        dw, db = _descent(problem, g)
        return Params(dw, db - 1.0), c

    def physical(self, s, y):
        t = jnp.exp(s) - self.t_c if self.t_c != 1.0 else jnp.expm1(s)
        return t, Params(y.w, y.b + s)


class FlowTerm(diffrax.ODETerm):
    """A clock's vector field as a diffrax `ODETerm` that also carries the clock, so that
    a solver can ask it for the field's curvatures and Jacobian (`gradflow.Radau5` and
    `gradflow.BDF` do). Any other diffrax solver sees a plain `ODETerm`.

    **Arguments:** `clock`, an `AbstractClock`.
    """

    clock: AbstractClock

    def __init__(self, clock: AbstractClock):
        self.clock = clock
        self.vector_field = clock.vector_field


def flow_clock(terms, solver: str) -> AbstractClock:
    """The clock of the `FlowTerm` inside `terms` (diffeqsolve wraps the term for the
    direction of integration in a `WrapTerm`, with a `.term`), for the stiff solvers
    that ask it for curvatures and Jacobians.

    **Raises:** `ValueError` naming `solver` when `terms` holds no `FlowTerm`.
    """
    while not isinstance(terms, FlowTerm) and isinstance(
        getattr(terms, "term", None), diffrax.AbstractTerm
    ):
        terms = terms.term
    if not isinstance(terms, FlowTerm):
        raise ValueError(
            f"{solver} needs a `gradflow.FlowTerm` (a clock's `term()`), which carries "
            f"the flow's Jacobian; got {type(terms).__name__}."
        )
    return terms.clock


def flat_field(terms, solver: str, t, y, args):
    """The flow's field at (t, y) as one flat vector, and the curvatures."""
    field, curvature = flow_clock(terms, solver).field_and_curvature(t, y, args)
    return jax.flatten_util.ravel_pytree(field)[0], curvature


CLOCKS = {"physical": PhysicalTime, "conformal": ConformalTime, "log": LogTime}


def as_clock(clock) -> AbstractClock:
    """`"physical"`, `"conformal"`, `"log"` or an `AbstractClock` → an `AbstractClock`.

    **Raises:** `ValueError` for anything else.
    """
    if isinstance(clock, AbstractClock):
        return clock
    if isinstance(clock, str) and clock in CLOCKS:
        return CLOCKS[clock]()
    raise ValueError(f"clock={clock!r} is not a known clock; use one of {sorted(CLOCKS)}.")
