"""Tests of `gradflow._population` (docs/mathematics.md §4) against independent scipy references.

The logistic reference is `scipy.integrate.quad` of $\\mathrm{softplus}(-b-sg)\\varphi(g)$
over $g$, split at the Gaussian peak, the tilted peak $g=-s$ and around the kink
$g=-b/s$, with the integrand scaled by its (log) maximum so tiny values keep their
relative accuracy. It agrees with a brute-force composite Gauss–Legendre rule to ~1e-15.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import special as sps
from scipy.integrate import quad

from gradflow import _population as pop

jax.config.update("jax_enable_x64", True)

RTOL = 1e-10  # public accuracy contract of gaussian_logistic_loss
TINY = 1e-300  # below this the reference is compared in absolute terms

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)

logistic = pop.gaussian_logistic_loss  # (already jitted)
accuracy = pop.gaussian_accuracy


# --------------------------------------------------------------------------------------
# References (scipy / numpy only)
# --------------------------------------------------------------------------------------
def _log_softplus_neg(x):
    """log(log(1 + e^{-x})), stable for every float x."""
    if x <= 0.0:
        return float(np.log(np.logaddexp(0.0, -x)))
    y = np.exp(-x)
    h = np.log1p(y) / y if y > 0.0 else 1.0
    return float(-x + np.log(h))


def _breakpoints(pts, lo, hi):
    """Sorted breakpoints inside (lo, hi), one of any two a rounding error apart (b = 2e-308
    puts the kink next to 0, and QUADPACK would warn on the empty subinterval)."""
    pts = sorted({p for p in pts if lo < p < hi})
    return [p for k, p in enumerate(pts) if k == 0 or p - pts[k - 1] > 1e-9]


def ref_logistic(b, s):
    """E softplus(-b - s G) by adaptive quadrature in g (epsrel 1e-13)."""
    b, s = float(b), float(s)
    if s == 0.0:
        return float(np.logaddexp(0.0, -b))

    def logf(g):
        return _log_softplus_neg(b + s * g) - 0.5 * g * g - _LOG_SQRT_2PI

    lo, hi = -s - 40.0, 40.0  # covers the Gaussian peak (0) and the tilted one (-s)
    gk = -b / s  # kink of the integrand, width 1/s
    pts = [0.0, -s, gk] + [gk + d / s for d in (-30, -10, -3, -1, 1, 3, 10, 30)]
    pts = _breakpoints(pts, lo, hi)
    c = max(logf(p) for p in pts + [-1.0, 1.0, lo / 2])
    val, _ = quad(lambda g: np.exp(logf(g) - c), lo, hi, points=pts, epsabs=0.0,
                  epsrel=1e-13, limit=2000)
    return float(np.exp(c) * val)


def ref_logistic_grad(b, s):
    """(dL/db, dL/ds) = (-E sigmoid(-m), s E[sigmoid(m) sigmoid(-m)]) by quad (Stein)."""
    lo, hi = -s - 40.0, 40.0
    gk = -b / s
    pts = [0.0, -s, gk] + [gk + d / s for d in (-30, -10, -3, -1, 1, 3, 10, 30)]
    pts = _breakpoints(pts, lo, hi)

    def phi(g):
        return np.exp(-0.5 * g * g - _LOG_SQRT_2PI)

    kw = dict(points=pts, epsabs=0.0, epsrel=1e-13, limit=2000)
    db = -quad(lambda g: np.exp(sps.log_expit(-(b + s * g))) * phi(g), lo, hi, **kw)[0]
    ds = s * quad(lambda g: np.exp(sps.log_expit(b + s * g) + sps.log_expit(-(b + s * g)))
                  * phi(g), lo, hi, **kw)[0]
    return db, ds


def _assert_rel(ours, ref, rtol=RTOL, what=""):
    ours, ref = float(ours), float(ref)
    assert np.isfinite(ours), (what, ours)
    if ref > TINY:
        assert abs(ours / ref - 1.0) <= rtol, (what, ours, ref, ours / ref - 1.0)
    else:  # genuinely (almost) below the float64 range
        assert 0.0 <= ours <= 1e-290, (what, ours, ref)


def test_reference_sanity():
    # closed forms: s = 0, and E e^{-m} for a margin that is positive a.s.
    assert ref_logistic(0.0, 0.0) == pytest.approx(np.log(2.0), rel=1e-15)
    assert ref_logistic(40.0, 1.0) == pytest.approx(np.exp(-40.0 + 0.5), rel=1e-12)
    # L(b) - L(-b) = -b (softplus(-m) - softplus(m) = -m)
    assert ref_logistic(3.0, 7.0) - ref_logistic(-3.0, 7.0) == pytest.approx(-3.0, rel=1e-12)


# --------------------------------------------------------------------------------------
# Logistic loss: accuracy of the split rule
# --------------------------------------------------------------------------------------
MBAR_GRID = [-50.0, -10.0, -1.0, 0.0, 0.5, 3.0, 10.0, 50.0, 100.0, 300.0, 1000.0]
S_GRID = [0.0, 1e-3, 0.1, 1.0, 1.9, 2.0, 2.1, 4.0, 10.0, 30.0, 100.0, 300.0, 1000.0]


def test_logistic_grid_against_quad():
    b, s = np.meshgrid(MBAR_GRID, S_GRID, indexing="ij")
    ours = np.asarray(logistic(b, s))
    assert ours.shape == b.shape and np.all(np.isfinite(ours))
    worst = 0.0
    for bi, si, oi in zip(b.ravel(), s.ravel(), ours.ravel(), strict=True):
        ref = ref_logistic(bi, si)
        _assert_rel(oi, ref, what=(bi, si))
        if ref > TINY:
            worst = max(worst, abs(oi / ref - 1.0))
    assert worst < 1e-12  # measured 5e-14 (float64 conditioning ~ eps (|b| + s^2))


@pytest.mark.parametrize(
    "b,s",
    [(2.15, 1.99), (81.8, 2.09), (98.0, 12.3), (300.0, 20.0), (950.0, 34.46), (977.0, 29.9),
     (20.0, 2.5), (40.0, 2.01), (60.0, 7.5), (-45.0, 6.0), (0.0, 2.0000001), (700.0, 5.0)],
)
def test_logistic_hard_points(b, s):
    # kink near the GH limit, tilted peak in the fixed panels, u* < 0 tails (P8 change),
    # and near-underflow values (~1e-299)
    _assert_rel(logistic(b, s), ref_logistic(b, s), rtol=1e-12, what=(b, s))


_s_strategy = st.one_of(
    st.floats(0.0, 1000.0),
    st.floats(-3.0, 3.0).map(lambda t: 10.0**t),
    st.floats(1.5, 40.0),
)


@settings(max_examples=50, deadline=None, database=None)
@given(b=st.floats(-50.0, 1000.0), s=_s_strategy)
@example(b=2.2250738585072014e-308, s=1.0)  # found by CI: kink a rounding error from 0
def test_logistic_random_against_quad(b, s):
    _assert_rel(logistic(b, s), ref_logistic(b, s), what=(b, s))


@pytest.mark.parametrize("b,s", [(700.0, 5.0), (702.0, 0.5), (650.0, 10.0), (1000.0, 25.0),
                                 (900.0, 20.0), (300.0, 2.0), (300.0, 2.1)])
def test_logistic_tiny_values_are_relatively_accurate(b, s):
    # m > 0 almost surely: L = E e^{-m} (1 + O(e^{-m})) = e^{-b + s^2/2} to ~e^{-b + 1.5 s^2}
    exact = np.exp(-b + 0.5 * s * s)
    assert exact > 1e-305
    assert float(logistic(b, s)) == pytest.approx(exact, rel=1e-12)


def test_logistic_underflow_is_clean():
    out = np.asarray(logistic(jnp.array([1000.0, 800.0, 760.0]), jnp.array([0.1, 2.5, 5.0])))
    assert np.all(out >= 0.0) and np.all(out < 1e-300)


def test_logistic_symmetry_and_branch_continuity():
    b = np.array([-20.0, -3.0, -0.5, 0.0, 0.7, 4.0, 20.0])
    for s in [0.5, 2.0, 2.5, 40.0, 500.0]:
        diff = np.asarray(logistic(b, s) - logistic(-b, s))
        np.testing.assert_allclose(diff, -b, rtol=1e-12, atol=1e-12 * (1 + s))
    lo = np.asarray(logistic(b, 2.0))
    hi = np.asarray(logistic(b, np.nextafter(2.0, 3.0)))
    np.testing.assert_allclose(lo, hi, rtol=1e-12)


# --------------------------------------------------------------------------------------
# Helpers of the s > 2 branch: erfcx, psi
# --------------------------------------------------------------------------------------
def test_erfcx_against_scipy():
    x = np.concatenate([np.linspace(0.0, 40.0, 4001), np.linspace(26.5, 26.7, 201),
                        np.geomspace(1e-8, 1e3, 500)])
    ours = np.asarray(jax.jit(pop._erfcx)(x))
    np.testing.assert_allclose(ours, sps.erfcx(x), rtol=1e-13, atol=0)


def _ref_g(x):
    # g(x) = psi(x)/phi(x) = int_0^inf v exp(-x v - v^2/2) dv
    upper = 12.0 if x < 5.0 else 60.0 / x
    return quad(lambda v: v * np.exp(-x * v - 0.5 * v * v), 0.0, upper, epsabs=0.0,
                epsrel=1e-13, limit=200)[0]


def test_psi_against_quad():
    x = np.concatenate([np.linspace(0.0, 12.0, 49), [3.999, 4.0, 4.001, 20.0, 60.0, 500.0]])
    ref = np.array([_ref_g(xi) for xi in x])
    np.testing.assert_allclose(np.asarray(jax.jit(pop._hinge_g)(x)), ref, rtol=2e-14)
    beta = np.linspace(-30.0, 30.0, 121)
    psi_fn = jax.jit(pop._psi)
    psi = np.asarray(psi_fn(beta))
    neg = beta <= 0  # direct formula has no cancellation there
    direct = np.exp(-0.5 * beta**2 - _LOG_SQRT_2PI) - beta * sps.ndtr(-beta)
    np.testing.assert_allclose(psi[neg], direct[neg], rtol=1e-14)
    np.testing.assert_allclose(psi - np.asarray(psi_fn(-beta)), -beta, rtol=1e-14, atol=1e-15)


# --------------------------------------------------------------------------------------
# Accuracy and exponential loss
# --------------------------------------------------------------------------------------
def test_accuracy_closed_form_and_heaviside():
    b = np.array([-50.0, -3.0, -0.2, 0.0, 0.2, 3.0, 50.0])
    for s in [1e-3, 0.3, 1.0, 7.0, 1e3]:
        np.testing.assert_allclose(np.asarray(accuracy(b, s)), sps.ndtr(b / s), rtol=1e-14,
                                   atol=1e-300)
    np.testing.assert_array_equal(np.asarray(accuracy(b, 0.0)), (b > 0).astype(float))
    assert float(accuracy(0.0, 0.0)) == 0.0  # Theta(0) = 0 (docs/mathematics.md §2)


def test_exponential_closed_form():
    b = np.array([-5.0, 0.0, 2.0, 700.0])
    s = np.array([0.0, 1.0, 3.0, 10.0])
    np.testing.assert_allclose(np.asarray(pop.gaussian_log_exponential_loss(b, s)),
                               -b + 0.5 * s * s, rtol=1e-15)
    np.testing.assert_allclose(np.asarray(pop.gaussian_exponential_loss(b, s)),
                               np.exp(-b + 0.5 * s * s), rtol=1e-14)


@pytest.mark.parametrize("b,s", [(0.3, 0.7), (1.0, 1.0), (-0.5, 0.4), (2.0, 3.0)])
def test_against_monte_carlo(b, s):
    n = 2_000_000
    m = b + s * np.random.default_rng(1234).standard_normal(n)

    def check(samples, value):
        se = samples.std() / np.sqrt(n)
        assert abs(samples.mean() - float(value)) < 4.0 * se, (samples.mean(), value, se)

    check((m > 0).astype(float), accuracy(b, s))
    check(np.logaddexp(0.0, -m), logistic(b, s))
    if s <= 1.0:  # heavy-tailed e^{-m} makes the sample s.e. unreliable for large s
        check(np.exp(-m), pop.gaussian_exponential_loss(b, s))


# --------------------------------------------------------------------------------------
# jit / vmap / grad
# --------------------------------------------------------------------------------------
FUNCS = [pop.gaussian_accuracy, pop.gaussian_exponential_loss,
         pop.gaussian_log_exponential_loss, pop.gaussian_logistic_loss]
EDGE_POINTS = [(b, s) for b in (-1.0, 0.0, 1.0) for s in (0.0, 1e-3, 2.0, 2.0 + 1e-12, 3.0)]
EDGE_POINTS += [(-50.0, 30.0), (1000.0, 30.0), (1000.0, 0.1), (30.0, 2.0)]
EDGE_POINTS_LOG = [(-50.0, 1000.0), (1000.0, 1000.0)]  # e^{-b+s^2/2} overflows here

_GRADS = {fn.__name__: jax.jit(jax.grad(fn, argnums=(0, 1))) for fn in FUNCS}


def _points(fn):
    return EDGE_POINTS + ([] if fn is pop.gaussian_exponential_loss else EDGE_POINTS_LOG)


@pytest.mark.parametrize("fn", FUNCS, ids=lambda f: f.__name__)
def test_jit_vmap_broadcast(fn):
    pts = _points(fn)
    b = jnp.array([p[0] for p in pts])
    s = jnp.array([p[1] for p in pts])
    scalar = np.array([float(fn(bi, si)) for bi, si in pts])
    assert np.all(np.isfinite(scalar))
    np.testing.assert_allclose(np.asarray(fn(b, s)), scalar, rtol=1e-14, atol=0)
    np.testing.assert_allclose(np.asarray(jax.vmap(fn)(b, s)), scalar, rtol=1e-14, atol=0)
    out = jax.jit(fn)(jnp.zeros((3, 1)), jnp.linspace(0.0, 5.0, 4))
    assert out.shape == (3, 4) and out.dtype == jnp.float64


@pytest.mark.parametrize("fn", FUNCS, ids=lambda f: f.__name__)
def test_grad_finite_at_edges(fn):
    grad = _GRADS[fn.__name__]
    for b, s in _points(fn):
        gb, gs = grad(b, s)
        assert np.isfinite(float(gb)) and np.isfinite(float(gs)), (b, s, gb, gs)
    gb, gs = jax.vmap(grad)(jnp.array([0.0, 1.0]), jnp.array([0.0, 2.0]))
    assert np.all(np.isfinite(np.asarray(gb))) and np.all(np.isfinite(np.asarray(gs)))


def test_grad_values_at_s_zero():
    grad_l = _GRADS["gaussian_logistic_loss"]
    grad_a = _GRADS["gaussian_accuracy"]
    for b in [-3.0, -1e-9, 0.0, 1e-9, 2.0]:
        gb, gs = grad_l(b, 0.0)
        assert float(gb) == pytest.approx(-sps.expit(-b), rel=1e-14)
        assert abs(float(gs)) < 1e-15  # L is even in s
        assert tuple(map(float, grad_a(b, 0.0))) == (0.0, 0.0)


GRAD_POINTS = [(0.3, 0.5), (1.0, 1.0), (1.0, 2.0), (0.0, 2.0), (1.0, 2.0000001), (-3.0, 2.5),
               (5.0, 3.0), (10.0, 30.0), (50.0, 30.0), (-20.0, 300.0), (300.0, 20.0),
               (-13.17, 398.2)]


@pytest.mark.parametrize("fn", FUNCS, ids=lambda f: f.__name__)
def test_grad_matches_finite_differences(fn):
    grad = _GRADS[fn.__name__]
    h = 1e-6
    for b, s in GRAD_POINTS:
        if fn is pop.gaussian_exponential_loss and s > 30.0:
            continue  # e^{-b + s^2/2} overflows
        gb, gs = (float(g) for g in grad(b, s))
        fdb = (float(fn(b + h, s)) - float(fn(b - h, s))) / (2 * h)
        fds = (float(fn(b, s + h)) - float(fn(b, s - h))) / (2 * h)
        # central differences: round-off ~ eps |f| / h, truncation ~ h^2 |third derivative|
        tol = 1e-6 * (abs(fdb) + abs(fds)) + 1e-9 * abs(float(fn(b, s)))
        assert abs(gb - fdb) <= tol, (fn.__name__, b, s, gb, fdb)
        assert abs(gs - fds) <= tol, (fn.__name__, b, s, gs, fds)


@pytest.mark.parametrize("b,s", [(0.3, 0.5), (2.44, 1.98), (1.0, 2.0), (-3.0, 2.5),
                                 (50.0, 30.0), (-13.17, 398.2), (40.0, 3.0)])
def test_logistic_grad_against_quad(b, s):
    gb, gs = _GRADS["gaussian_logistic_loss"](b, s)
    rb, rs = ref_logistic_grad(b, s)
    assert float(gb) == pytest.approx(rb, rel=1e-11)
    assert float(gs) == pytest.approx(rs, rel=1e-11)
