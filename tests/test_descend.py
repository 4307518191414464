"""Finite-step optimizers: `descend` and `compare` (src/gradflow/_descend.py)."""

import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradflow as gf
from gradflow import _descend

# GD with optax.sgd against a numpy loop: same arithmetic, different summation order.
NUMPY_MATCH_TOL = 1e-12
# The flow reference for the convergence order is solved this tightly (issue spec).
FLOW_RTOL = 1e-11
SLOPE_RANGE = (0.9, 1.1)
# One Adam instance for every test: optax closures compile once per instance.
ADAM = optax.adam(0.01)


@pytest.fixture(scope="module")
def problem():
    return gf.gaussian_problem(40, 10, 1.0, seed=0)


def numpy_gd(x, y, lr, steps, loss="logistic", w0=None, b0=0.0):
    """theta <- theta - lr * grad L, L = mean l(y (x.w + b)),
    written from docs/mathematics.md §3."""
    n, d = x.shape
    w = np.zeros(d) if w0 is None else np.array(w0, dtype=float)
    b = float(b0)
    for _ in range(steps):
        m = y * (x @ w + b)
        g = np.exp(-m) if loss == "exponential" else 1.0 / (1.0 + np.exp(m))  # -l'(m)
        w = w - lr * (-(g * y) @ x / n)
        b = b - lr * (-np.mean(g * y))
    return w, b


# --------------------------------------------------------------------------- exactness


def test_sgd_matches_numpy_loop():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 10))
    y = rng.choice([-1.0, 1.0], size=40)
    problem = gf.Problem(x, y)
    w0, b0 = 0.1 * rng.standard_normal(10), 0.2
    traj = gf.descend(problem, optax.sgd(0.3), 1000, y0=(w0, b0), record=np.array([500]))
    w_ref, b_ref = numpy_gd(x, y, 0.3, 1000, w0=w0, b0=b0)
    assert traj.t.shape == (3,) and float(traj.t[-1]) == pytest.approx(300.0, rel=1e-15)
    err = max(np.max(np.abs(np.asarray(traj.w[-1]) - w_ref)), abs(float(traj.b[-1]) - b_ref))
    assert err < NUMPY_MATCH_TOL, err
    np.testing.assert_array_equal(np.asarray(traj.w[0]), w0)
    assert traj.stats["lr"] == 0.3 and traj.stats["plain_gd"]
    # A number is short for optax.sgd: the same arithmetic, to the last bit.
    same = gf.descend(problem, 0.3, 1000, y0=(w0, b0), record=np.array([500]))
    np.testing.assert_array_equal(np.asarray(same.t), np.asarray(traj.t))
    np.testing.assert_array_equal(np.asarray(same.w), np.asarray(traj.w))
    np.testing.assert_array_equal(np.asarray(same.b), np.asarray(traj.b))


def test_exponential_loss_matches_numpy():
    problem = diverging_problem()  # exponential loss, sigma = 5
    traj = gf.descend(problem, 0.005, 400, record=np.array([400]))
    w_ref, b_ref = numpy_gd(np.asarray(problem.x), np.ones(40), 0.005, 400, loss="exponential")
    np.testing.assert_allclose(np.asarray(traj.w[-1]), w_ref, rtol=1e-12, atol=1e-13)
    assert float(traj.b[-1]) == pytest.approx(b_ref, rel=1e-12)


def test_no_bias_problem_keeps_b_zero():
    problem = gf.two_gaussian_problem(30, 6, mu=1.0, sigma_a=0.0, sigma_b=1.0, seed=0)
    traj = gf.descend(problem, ADAM, 200, record=10)
    assert np.all(np.asarray(traj.b) == 0.0)
    assert traj.train_loss[-1] < traj.train_loss[0]


# --------------------------------------------------------------------------- convergence


def test_gd_converges_to_flow_at_first_order(problem):
    t_fixed = 90.0  # a whole number of steps for every rate below
    lrs = np.array([0.3, 0.1, 0.03, 0.01])
    errors = []
    for lr in lrs:
        steps = int(round(t_fixed / lr))
        gd = gf.descend(problem, float(lr), steps, record=np.array([steps // 3, 2 * steps // 3]))
        flow = gf.integrate(problem, gd.t[-1], saveat=gd.t, rtol=FLOW_RTOL)
        errors.append(gf.compare(flow, gd).at(t_fixed)["params"])
    slope = np.polyfit(np.log(lrs), np.log(errors), 1)[0]
    assert SLOPE_RANGE[0] <= slope <= SLOPE_RANGE[1], (slope, errors)


def test_loss_never_increases_below_bound(problem):
    lr = 0.9 * gf.descent_bound(problem)
    traj = gf.descend(problem, lr, 2000, record=np.arange(0, 2001, 50))
    assert np.all(np.diff(traj.train_loss) <= 1e-15)


# --------------------------------------------------------------------------- memory


def test_ten_million_steps_record_bounded_memory():
    problem = gf.gaussian_problem(3, 2, 1.0, seed=1)
    steps = 10**7
    traj = gf.descend(problem, 0.01, steps)
    assert traj.successful
    assert traj.t.shape[0] <= _descend.DEFAULT_NUM_RECORDS + 1
    assert traj.w.shape == (traj.t.shape[0], 2)
    recorded = sum(np.asarray(a).nbytes for a in (traj.t, traj.w, traj.b))
    assert recorded < 10_000  # bytes
    assert float(traj.t[-1]) == pytest.approx(steps * 0.01, rel=1e-12)
    # Log-spaced: the records are dense early and sparse late.
    k = np.rint(np.asarray(traj.t) / 0.01)
    assert k[1] == 1 and k[-1] == steps and np.all(np.diff(k) > 0)


def test_compiled_loop_memory_is_independent_of_steps(problem):
    # The only input that depends on `steps` is the per-record count array: same shapes,
    # same compiled executable, same buffers for 10 and 10**9 steps.
    counts = jnp.zeros(_descend.DEFAULT_NUM_RECORDS, dtype=jnp.int64)
    y0 = gf.Params(jnp.zeros(problem.d), jnp.asarray(0.0))
    compiled = _descend._run.lower(None, problem, y0, counts, jnp.asarray(0.1)).compile()
    mem = getattr(compiled, "compiled", compiled).memory_analysis()
    if mem is None:  # pragma: no cover - backend without memory analysis
        pytest.skip("no memory analysis on this backend")
    total = mem.temp_size_in_bytes + mem.output_size_in_bytes + mem.argument_size_in_bytes
    records = _descend.DEFAULT_NUM_RECORDS * (problem.d + 2) * 8
    assert total < 4 * records + problem.x.nbytes * 4 + 100_000


# --------------------------------------------------------------------------- divergence


def diverging_problem():
    return gf.gaussian_problem(40, 10, 5.0, seed=0, loss="exponential")


def test_divergence_reported_with_step():
    problem = diverging_problem()
    traj = gf.descend(problem, 10.0, 1000, throw=False)
    assert traj.result == gf.RESULTS.diverged
    assert not traj.successful and "diverged" in traj.message
    k = traj.stats["diverged_at"]
    # The same GD in numpy: the first step with non-finite parameters.
    x = np.asarray(problem.x)
    w, b, first = np.zeros(10), 0.0, None
    with np.errstate(over="ignore", invalid="ignore"):
        for step in range(1, 1000):
            g = np.exp(-(x @ w + b))
            w, b = w + 10.0 * g @ x / 40, b + 10.0 * g.mean()
            if not (np.all(np.isfinite(w)) and np.isfinite(b)):
                first = step
                break
    assert k == first
    assert np.all(np.isfinite(np.asarray(traj.w))) and np.all(np.isfinite(np.asarray(traj.b)))
    # Ends with the last finite state, step k - 1.
    assert float(traj.t[-1]) == pytest.approx(10.0 * (k - 1))
    assert traj.stats["steps"] == 1000


def test_divergence_raises_with_partial_trajectory():
    with pytest.raises(gf.IntegrationError, match=r"diverged at step \d+") as info:
        gf.descend(diverging_problem(), 10.0, 1000)
    partial = info.value.trajectory
    assert isinstance(partial, gf.Trajectory)
    assert partial.result == gf.RESULTS.diverged
    assert isinstance(info.value, RuntimeError)


def test_warns_once_above_descent_bound(problem):
    bound = gf.descent_bound(problem)
    with pytest.warns(UserWarning, match="descent bound") as record:
        gf.descend(problem, 2.0 * bound, 50)
    assert len(record) == 1
    # The bound of docs/mathematics.md §3 for this problem, from numpy.
    xh = np.column_stack([np.asarray(problem.x), np.ones(problem.n)])
    assert bound == pytest.approx(8 / np.linalg.eigvalsh(xh.T @ xh / problem.n)[-1], rel=1e-12)


def test_no_warning_below_bound_or_for_other_optimizers(problem):
    bound = gf.descent_bound(problem)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gf.descend(problem, 0.5 * bound, 20)
        gf.descend(problem, ADAM, 20)
        # The exponential loss has no global bound: no warning, even for a huge step.
        gf.descend(diverging_problem(), 10.0, 20, throw=False)


# --------------------------------------------------------------------------- time axis


def test_plain_gd_detection(problem):
    assert _descend.plain_gd_rate(optax.sgd(0.25), problem) == 0.25
    assert _descend.plain_gd_rate(optax.scale(-0.5), problem) == 0.5
    assert _descend.plain_gd_rate(optax.sgd(0.25, momentum=0.9), problem) is None
    assert _descend.plain_gd_rate(optax.adam(0.1), problem) is None
    schedule = optax.exponential_decay(0.1, transition_steps=1, decay_rate=0.5)
    assert _descend.plain_gd_rate(optax.sgd(schedule), problem) is None


def test_time_axis_for_other_optimizers(problem):
    adam = gf.descend(problem, ADAM, 100, record=np.array([10, 100]))
    assert adam.stats["lr"] is None and not adam.stats["plain_gd"]
    assert "adam" in adam.stats["optimizer"]
    np.testing.assert_array_equal(np.asarray(adam.t), [0.0, 10.0, 100.0])
    scaled = gf.descend(problem, ADAM, 100, record=np.array([10, 100]), lr=0.01)
    np.testing.assert_allclose(np.asarray(scaled.t), [0.0, 0.1, 1.0])
    np.testing.assert_array_equal(np.asarray(scaled.w), np.asarray(adam.w))


def test_record_array_and_default_records(problem):
    traj = gf.descend(problem, 0.1, 50, record=np.array([5, 20]))
    np.testing.assert_allclose(np.asarray(traj.t), [0.0, 0.5, 2.0, 5.0])  # ends at `steps`
    ks = _descend.record_steps(50)
    assert ks[0] == 0 and ks[-1] == 50 and np.all(np.diff(ks) > 0)
    np.testing.assert_array_equal(_descend.record_steps(50, 1), [0, 50])
    one = gf.descend(problem, 0.1, 50, record=1)
    np.testing.assert_allclose(np.asarray(one.t), [0.0, 5.0])
    default = gf.descend(problem, 0.1, 50)
    np.testing.assert_allclose(np.asarray(default.t), ks * 0.1)
    assert default.stats["num_records"] == ks.size and default.stats["diverged_at"] is None


def test_same_shape_compiles_once(problem):
    other = gf.gaussian_problem(40, 10, 2.0, seed=1)
    gf.descend(problem, 0.1, 100, record=30)
    before = _descend._TRACE_COUNT["run"]
    gf.descend(other, 0.05, 100_000, record=30)
    gf.descend(problem, 0.3, 7, record=np.array([2, 3]), y0=(np.ones(10), 1.0))
    assert _descend._TRACE_COUNT["run"] == before


def test_metrics_and_trajectory_type(problem):
    traj = gf.descend(problem, 0.5, 200, record=10)
    assert isinstance(traj, gf.Trajectory)
    i = -1
    w, b = traj.w[i], traj.b[i]
    assert traj.train_loss[i] == pytest.approx(float(problem.train_loss(w, b)), rel=1e-14)
    assert traj.test_accuracy[i] == pytest.approx(float(problem.test_accuracy(w, b)), rel=1e-14)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(steps=0), "steps"),
        (dict(steps=-3), "steps"),
        (dict(steps=2.5), "steps"),
        (dict(steps=True), "steps"),
        (dict(steps="10"), "steps"),
        (dict(optimizer="adam"), "optimizer"),
        (dict(optimizer=-0.1), "optimizer"),
        (dict(optimizer=float("nan")), "optimizer"),
        (dict(record=0), "record"),
        (dict(record=np.array([5, 3])), "record"),
        (dict(record=np.array([1, 99])), "record"),
        (dict(record=np.array([0.5, 1.0])), "record"),
        (dict(y0=(np.zeros(3), 0.0)), "y0"),
        (dict(lr=-1.0), "lr"),
        (dict(lr="fast"), "lr"),
    ],
)
def test_bad_input(problem, kwargs, match):
    args = dict(optimizer=0.1, steps=10)
    args.update(kwargs)
    optimizer, steps = args.pop("optimizer"), args.pop("steps")
    with pytest.raises(ValueError, match=match):
        gf.descend(problem, optimizer, steps, **args)


def test_failing_optimizer_probe_is_reported(problem):
    """An optimizer that fails when probed used to be taken silently for "not plain GD",
    so its run recorded the step count as time."""
    import jax

    def eager_fails(updates, state, params=None):
        if not isinstance(updates.b, jax.core.Tracer):
            raise RuntimeError("cannot run eagerly")
        return jax.tree.map(lambda g: -0.1 * g, updates), state

    optimizer = optax.GradientTransformation(lambda params: optax.EmptyState(), eager_fails)
    with pytest.raises(ValueError, match="`optimizer` failed.*cannot run eagerly") as err:
        gf.descend(problem, optimizer, 10)
    assert isinstance(err.value.__cause__, RuntimeError)
    with pytest.raises(ValueError, match="`optimizer`"):
        _descend.plain_gd_rate(optimizer, problem)


def test_bad_problem():
    with pytest.raises(ValueError, match="problem"):
        gf.descend(np.ones((3, 2)), 0.1, 10)


# --------------------------------------------------------------------------- compare


def test_compare(problem):
    gd = gf.descend(problem, 0.1, 100, record=np.array([10, 50]))
    same = gf.compare(gd, gd)
    assert isinstance(same, gf.Comparison)
    assert np.all(same.params == 0) and same.t.shape == (4,)
    flow = gf.integrate(problem, 10.0, saveat=np.array([0.0, 1.0, 5.0, 10.0]), rtol=1e-10)
    comp = gf.compare(flow, gd)
    np.testing.assert_allclose(comp.t, [0.0, 1.0, 5.0, 10.0])
    at = comp.at(5.0)
    dw = np.linalg.norm(np.asarray(flow.w[2]) - np.asarray(gd.w[2]))
    assert at["w"] == pytest.approx(dw, rel=1e-12)
    assert at["test_loss"] == pytest.approx(abs(flow.test_loss[2] - gd.test_loss[2]))
    assert 0 < comp.max()["params"] < 0.1
    with pytest.raises(ValueError, match="shared time"):
        comp.at(3.0)


def test_compare_errors(problem):
    gd = gf.descend(problem, 0.1, 10, record=np.array([10]))
    flow = gf.integrate(problem, 0.5, saveat=np.array([0.1, 0.2, 0.3, 0.5]))
    with pytest.raises(ValueError, match="share no time"):
        gf.compare(flow, gd)
    other = gf.descend(gf.gaussian_problem(3, 2, 1.0, seed=1), 0.1, 10, record=np.array([10]))
    with pytest.raises(ValueError, match="dimensions"):
        gf.compare(gd, other)
    with pytest.raises(ValueError, match="flow"):
        gf.compare(np.zeros(3), gd)


def test_extra_args_reach_the_optimizer(problem):
    # Line-search optimizers (optax.lbfgs) read `value`/`value_fn` by keyword; a minimal
    # one here: the step is -0.1 * L(theta) * g, checked after one step from 0.
    def update(updates, state, params=None, *, value, value_fn, grad, **extra):
        assert jnp.shape(value) == () and grad is updates
        del value_fn
        return jax.tree.map(lambda g: -0.1 * value * g, updates), state

    opt = optax.GradientTransformationExtraArgs(lambda params: optax.EmptyState(), update)
    traj = gf.descend(problem, opt, 1, record=np.array([1]))
    g = jax.grad(lambda w, b: problem.train_loss(w, b), argnums=(0, 1))(
        jnp.zeros(problem.d), jnp.asarray(0.0)
    )
    np.testing.assert_allclose(np.asarray(traj.w[-1]), -0.1 * np.log(2) * np.asarray(g[0]),
                               rtol=1e-13, atol=1e-16)
    assert traj.stats["lr"] is None  # not plain GD: the step depends on the loss


def test_trajectory_is_a_module(problem):
    traj = gf.descend(problem, 0.1, 10, record=np.array([10]))
    assert isinstance(traj, eqx.Module)
