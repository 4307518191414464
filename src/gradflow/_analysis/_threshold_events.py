"""The threshold conditions that `grokking_time` hands to `diffrax.Event`.

The flow is solved in log time $s = \\log(1+t)$ with conformal time $\\tau$ carried along
($d\\tau/ds = e^{-\\beta}$, $\\beta = b - s$; docs/mathematics.md §5). Each condition is a
smooth function of the state, positive before its crossing: $\\log L_{train} -
\\log\\epsilon$ and $\\log L_{test} - \\log\\epsilon$ (one per threshold) and
level $-$ test accuracy; the event fires on the smallest condition still switched on.
"""

import equinox as eqx
import jax
import jax.numpy as jnp

from .._flow import LogTime
from .._problem import Params, Problem
from ._log_losses import _log_test_loss, _log_train_loss

#: A switched-off condition reads as this (never the smallest).
_BIG = 1e300


class _Thresholds(eqx.Module):
    log_eps: jax.Array  # (K,)
    train_on: jax.Array  # (K,) bool
    gen_on: jax.Array  # (K,) bool
    level: jax.Array  # ()
    acc_on: jax.Array  # () bool


class _State(eqx.Module):
    params: Params  # (w, beta = b - s)
    tau: jax.Array


def _conditions(s, state: _State, problem: Problem, thr: _Thresholds):
    """All conditions, positive before their crossing: $\\log L - \\log\\epsilon$ (train,
    then test, shape `(K,)` each) and level $-$ test accuracy."""
    w = state.params.w
    b = state.params.b + s
    c_train = _log_train_loss(problem, w, b) - thr.log_eps
    c_gen = _log_test_loss(problem, w, b) - thr.log_eps
    c_acc = thr.level - problem.test_accuracy(w, b)
    return c_train, c_gen, c_acc


def _masked_min(s, state, problem, thr):
    c_train, c_gen, c_acc = _conditions(s, state, problem, thr)
    c_train = jnp.where(thr.train_on, c_train, _BIG)
    c_gen = jnp.where(thr.gen_on, c_gen, _BIG)
    c_acc = jnp.where(thr.acc_on, c_acc, _BIG)
    if c_train.shape[0] == 0:  # only the accuracy is timed (static shape: no empty min,
        return c_acc  # whose derivative would be NaN and stall Newton)
    return jnp.minimum(jnp.minimum(jnp.min(c_train), jnp.min(c_gen)), c_acc)


def _field(s, state: _State, args):
    problem, _ = args
    dparams = LogTime().vector_field(s, state.params, problem)
    return _State(dparams, jnp.exp(-state.params.b))


def _event_cond(t, y, args, **kwargs):
    # diffrax passes `t`, `y`, `args` by keyword when root finding.
    problem, thr = args
    return _masked_min(t, y, problem, thr)


#: Step along the initial vector field at which the accuracy is read "at t = 0+": at
#: $w_0 = 0$ the population accuracy jumps from $\Theta(b_0)$ to $\Phi(\dot b/\sigma\|\dot w\|)$.
_T0_PLUS = 1e-9


@eqx.filter_jit
def _initial_values(problem, thr, state0):
    s0 = jnp.asarray(0.0)
    c_train, c_gen, c_acc = _conditions(s0, state0, problem, thr)
    ahead = jax.tree.map(lambda y, f: y + _T0_PLUS * f, state0, _field(s0, state0, (problem, thr)))
    _, _, c_acc_plus = _conditions(jnp.asarray(_T0_PLUS), ahead, problem, thr)
    return c_train, c_gen, jnp.minimum(c_acc, c_acc_plus)
