import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

import gradflow as gf


def test_gaussian_problem_is_the_numpy_expression():
    p = gf.gaussian_problem(40, 19, 3.0, seed=0)
    x = 3.0 * np.random.default_rng(0).standard_normal((40, 19))
    np.testing.assert_array_equal(np.asarray(p.x), x)
    assert p.n == 40 and p.d == 19 and p.lam == pytest.approx(19 / 40)
    assert float(p.sigma) == 3.0
    np.testing.assert_array_equal(np.asarray(p.y), np.ones(40))


def test_margins_are_the_numpy_expression_for_one_w_and_a_batch():
    # `zt` is `z` transposed (stored for XLA's fast layout); margins of one w and of a
    # batch of w both come from it and must equal y_i (w . x_i + b)
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((30, 7)), np.where(rng.random(30) < 0.5, -1.0, 1.0)
    p = gf.Problem(x, y)
    np.testing.assert_array_equal(np.asarray(p.zt), (y[:, None] * x).T)
    w, b = rng.standard_normal(7), 0.3
    np.testing.assert_allclose(np.asarray(p.margins(jnp.asarray(w), b)), y * (x @ w + b),
                               rtol=1e-13, atol=1e-13)
    ws = rng.standard_normal((4, 7))
    np.testing.assert_allclose(np.asarray(p.zw(jnp.asarray(ws))), ws @ (y[:, None] * x).T,
                               rtol=1e-13, atol=1e-13)
    # without a bias the b term is dropped
    q = gf.Problem(x, y, fit_bias=False)
    np.testing.assert_allclose(np.asarray(q.margins(jnp.asarray(w), b)), y * (x @ w),
                               rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(x=np.zeros(5)), "`x`"),
        (dict(x=np.zeros((0, 3))), "`x`"),
        (dict(x=np.array([[1.0, np.nan]])), "`x`"),
        (dict(x=np.array([[1.0, np.inf]])), "`x`"),
        (dict(x=np.ones((3, 2)), y=[1, -1]), "`y`"),
        (dict(x=np.ones((3, 2)), y=[1, 0, -1]), "`y`"),
        (dict(x=np.ones((3, 2)), sigma=0.0), "`sigma`"),
        (dict(x=np.ones((3, 2)), sigma=-1.0), "`sigma`"),
        (dict(x=np.ones((3, 2)), sigma=np.nan), "`sigma`"),
        (dict(x=np.ones((3, 2)), loss="hinge"), "loss"),
        (dict(x=np.ones((3, 2)), x_test=np.ones((4, 3))), "`x_test`"),
        (dict(x=np.ones((3, 2)), x_test=np.ones((4, 2)), y_test=[1, 1]), "`y_test`"),
        (dict(x=np.ones((3, 2)), y_test=[1, 1]), "y_test"),
        # complex input used to lose its imaginary part with only a numpy warning
        (dict(x=np.ones((3, 2)) * (1 + 1j)), "`x` must be real"),
        (dict(x=[[1.0, 2j], [3.0, 4.0]]), "`x` must be real"),
        (dict(x=np.ones((3, 2)), y=np.array([1, -1, 1]) + 0j), "`y` must be real"),
        (dict(x=np.ones((3, 2)), x_test=np.ones((2, 2)) * 1j), "`x_test` must be real"),
        (dict(x=[["a", "b"]]), "`x` must be an array of real numbers"),
    ],
)
def test_bad_input_names_the_argument(kwargs, match):
    x = kwargs.pop("x")
    with pytest.raises(ValueError, match=match):
        gf.Problem(x, **kwargs)


@pytest.mark.parametrize(
    "args, match",
    [((0, 3, 1.0), "`n`"), ((3, -1, 1.0), "`d`"), ((3, 2, 0.0), "`sigma`"), ((2.5, 2, 1.0), "`n`"),
     # these used to give raw numpy/Python errors (TypeError, "cannot convert float NaN")
     ((None, 2, 1.0), "`n`"), ((np.nan, 2, 1.0), "`n`"), (("abc", 2, 1.0), "`n`"),
     ((np.inf, 2, 1.0), "`n`"), ((3, "2", 1.0), "`d`")],
)
def test_generator_bad_sizes(args, match):
    with pytest.raises(ValueError, match=match):
        gf.gaussian_problem(*args, seed=0)


@pytest.mark.parametrize("seed", [1.5, -1, "1", None, [1, 2.5], [], True])
def test_generators_refuse_bad_seeds(seed):
    generators = [
        lambda: gf.gaussian_problem(5, 2, 1.0, seed=seed),
        lambda: gf.two_gaussian_problem(5, 2, mu=1.0, sigma_a=0.0, sigma_b=1.0, seed=seed),
        lambda: gf.powerlaw_problem(5, 2, 1.0, seed=seed),
        lambda: gf.mixture_problem(5, 2, 1.0, seed=seed),
        lambda: gf.threshold_problem(5, 2, 1.0, r=1.0, seed=seed),
    ]
    for make in generators:
        with pytest.raises(ValueError, match="`seed`"):
            make()


def test_generators_accept_integer_and_list_seeds():
    a = gf.gaussian_problem(5, 2, 1.0, seed=np.int64(3))
    assert np.array_equal(a.x, gf.gaussian_problem(5, 2, 1.0, seed=3).x)
    b = gf.gaussian_problem(5, 2, 1.0, seed=[0, 5, 2, 1])
    assert np.array_equal(b.x, np.random.default_rng([0, 5, 2, 1]).standard_normal((5, 2)))
    assert gf.gaussian_problem(3.0, 2, 1.0).n == 3  # an integral float is an integer


@pytest.mark.parametrize("make, match", [
    (lambda: gf.GaussianPopulation(-1.0), "`sigma`"),  # was accepted: test accuracy 1.0
    (lambda: gf.GaussianPopulation(0.0), "`sigma`"),
    (lambda: gf.GaussianPopulation(np.nan), "`sigma`"),
    (lambda: gf.TwoGaussianPopulation(-1.0, 0.0, 1.0), "`mu`"),
    (lambda: gf.TwoGaussianPopulation(1.0, -0.5, 1.0), "`sigma_a`"),
    (lambda: gf.TwoGaussianPopulation(1.0, 0.0, 0.0), "`sigma_b`"),
])
def test_populations_refuse_bad_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_populations_still_work_under_jax_transformations():
    import jax

    acc = jax.vmap(lambda s: gf.GaussianPopulation(s).accuracy(jnp.ones(2), 1.0))
    assert np.all(np.isfinite(np.asarray(acc(jnp.array([1.0, 2.0])))))


def test_population_accuracy_closed_form():
    p = gf.gaussian_problem(10, 3, 2.0, seed=1)
    w, b = jnp.array([0.3, -0.1, 0.2]), jnp.asarray(0.7)
    s = 2.0 * np.linalg.norm(np.asarray(w))
    assert float(p.test_accuracy(w, b)) == pytest.approx(norm.cdf(0.7 / s), rel=1e-14)
    pe = gf.gaussian_problem(10, 3, 2.0, seed=1, loss="exponential")
    assert float(pe.test_loss(w, b)) == pytest.approx(np.exp(-0.7 + s**2 / 2), rel=1e-14)


def test_held_out_metrics_and_mixed_labels():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((30, 4))
    y = np.where(rng.random(30) < 0.5, -1.0, 1.0)
    xt = rng.standard_normal((50, 4))
    yt = np.where(rng.random(50) < 0.5, -1.0, 1.0)
    p = gf.Problem(x, y, x_test=xt, y_test=yt, sigma=1.0)
    w, b = jnp.asarray(rng.standard_normal(4)), jnp.asarray(0.3)
    mt = yt * (xt @ np.asarray(w) + 0.3)
    assert float(p.test_accuracy(w, b)) == pytest.approx(np.mean(mt > 0))
    assert float(p.test_loss(w, b)) == pytest.approx(np.mean(np.logaddexp(0, -mt)), rel=1e-13)
    m = y * (x @ np.asarray(w) + 0.3)
    assert float(p.train_loss(w, b)) == pytest.approx(np.mean(np.logaddexp(0, -m)), rel=1e-13)
    assert float(p.train_accuracy(w, b)) == pytest.approx(np.mean(m > 0))


def test_no_test_information_gives_nan():
    p = gf.Problem(np.ones((3, 2)))
    assert not p.has_test
    assert np.isnan(float(p.test_accuracy(jnp.zeros(2), jnp.asarray(0.0))))


def test_two_gaussian_generator():
    p = gf.two_gaussian_problem(2000, 3, mu=0.5, sigma_a=0.2, sigma_b=1.5, seed=0)
    assert p.x.shape == (2000, 4) and not p.fit_bias
    z = np.asarray(p.z)  # y X = (mu + y xi_0, y xi_perp)
    assert abs(z[:, 0].mean() - 0.5) < 4 * 0.2 / np.sqrt(2000)
    assert abs(z[:, 1:].std() - 1.5) < 0.05
    assert set(np.unique(np.asarray(p.y))) == {-1.0, 1.0}
    with pytest.raises(ValueError, match="`sigma_a`"):
        gf.two_gaussian_problem(10, 3, mu=0.5, sigma_a=-1.0, sigma_b=1.0)
    with pytest.raises(ValueError, match="`mu`"):
        gf.two_gaussian_problem(10, 3, mu=0.0, sigma_a=0.0, sigma_b=1.0)


def test_two_gaussian_accuracy_formula_against_monte_carlo():
    # docs/mathematics.md §13: A = Phi(mu W0 / sqrt(sigma_a^2 W0^2 + sigma_b^2 |W_perp|^2)).
    p = gf.two_gaussian_problem(10, 3, mu=0.4, sigma_a=0.3, sigma_b=1.0, seed=0)
    w = np.array([1.2, 0.3, -0.4, 0.1])
    rng = np.random.default_rng(7)
    N = 1_000_000
    y = np.where(rng.random(N) < 0.5, -1.0, 1.0)
    X = rng.standard_normal((N, 4)) * np.r_[0.3, 1.0, 1.0, 1.0]
    X[:, 0] += 0.4 * y
    acc = np.mean(y * (X @ w) > 0)
    pred = float(p.test_accuracy(jnp.asarray(w), jnp.asarray(0.0)))
    assert abs(acc - pred) < 4 * np.sqrt(pred * (1 - pred) / N)


def test_two_gaussian_sigma_a_zero_is_the_reduced_model():
    # docs/mathematics.md §1: b = mu W0, w = mu W_perp,
    # x = z/mu, sigma = sigma_B/mu, t_red = mu^2 t.
    mu = 0.5
    full = gf.two_gaussian_problem(60, 25, mu=mu, sigma_a=0.0, sigma_b=1.0, seed=2)
    red = gf.reduced_problem(full)
    assert float(red.sigma) == pytest.approx(2.0)
    ts = np.array([0.0, 1.0, 10.0, 1e3, 1e6])
    tf = gf.integrate(full, 1e6, saveat=ts, rtol=1e-11, clock="physical")
    tr = gf.integrate(red, mu**2 * 1e6, saveat=mu**2 * ts, rtol=1e-11, clock="physical")
    np.testing.assert_allclose(mu * np.asarray(tf.w[:, 0]), tr.b, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(mu * np.asarray(tf.w[:, 1:]), tr.w, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(tf.test_accuracy, tr.test_accuracy, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(tf.train_loss, tr.train_loss, rtol=1e-8)
    # and a small sigma_a is close to the limit (the same seed draws the same noise)
    near = gf.two_gaussian_problem(60, 25, mu=mu, sigma_a=1e-6, sigma_b=1.0, seed=2)
    tn = gf.integrate(near, 1e6, saveat=ts, rtol=1e-11, clock="physical")
    np.testing.assert_allclose(np.asarray(tn.w), np.asarray(tf.w), rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- population interface

POPULATIONS = [
    gf.GaussianPopulation(2.0),
    gf.TwoGaussianPopulation(0.3, 0.1, 1.0),
    gf.PowerLawPopulation([4.0, 2.0, 1.0]),
    gf.MixturePopulation([1.0, 0.0, 0.0], 2.0),
    gf.ThresholdPopulation(2.0, 0.9),
    gf.ThresholdPopulation(2.0, 1.0),
]


def _concrete_methods(cls):
    return {name: f for name, f in vars(cls).items()
            if callable(f) and not getattr(f, "__isabstractmethod__", False)
            and not name.startswith("__")}


@pytest.mark.parametrize("population", POPULATIONS, ids=lambda p: type(p).__name__)
def test_populations_are_final_and_override_no_concrete_method(population):
    """equinox's abstract/final pattern: every population is a final class whose bases'
    concrete methods (`AbstractPopulation.loss`, ...) are its own, unchanged."""
    cls = type(population)
    assert not getattr(cls, "__abstractmethods__", ())
    for base in cls.__mro__[1:]:
        if base.__name__.startswith("Abstract"):
            for name, f in _concrete_methods(base).items():
                assert getattr(cls, name) is f, (cls.__name__, name)
    assert cls.loss is gf.AbstractPopulation.loss


def test_a_population_without_log_loss_or_accuracy_cannot_be_instantiated():
    class NoLogLoss(gf.AbstractPopulation):
        def accuracy(self, w, b):
            return 1.0

    class NoAccuracy(gf.AbstractPopulation):
        def log_loss(self, loss, w, b):
            return 0.0

    class NoMoments(gf.AbstractGaussianMarginPopulation):
        pass

    for cls in (NoLogLoss, NoAccuracy, NoMoments):
        with pytest.raises(TypeError, match="abstract"):
            cls()


def test_a_gaussian_margin_population_needs_only_its_moments():
    class Shifted(gf.AbstractGaussianMarginPopulation):
        sigma: float

        def margin_moments(self, w, b):
            return b + 1.0, self.sigma * jnp.linalg.norm(w)

    w, b = jnp.array([0.3, -0.4]), jnp.asarray(0.2)
    ref = gf.GaussianPopulation(2.0)
    for loss in (gf.LogisticLoss(), gf.ExponentialLoss()):
        assert float(Shifted(2.0).loss(loss, w, b)) == pytest.approx(
            float(ref.loss(loss, w, b + 1.0)), rel=1e-14)
    assert float(Shifted(2.0).accuracy(w, b)) == float(ref.accuracy(w, b + 1.0))


def test_population_losses_dispatch_to_the_closed_forms():
    """The same numbers as the closed forms the
    population tests use (docs/mathematics.md §4, §13)."""
    from scipy.stats import norm as normal

    from gradflow import _population as pop

    w, b = np.array([0.3, -0.1, 0.2]), 0.7
    wj, bj = jnp.asarray(w), jnp.asarray(b)
    exp, logistic = gf.ExponentialLoss(), gf.LogisticLoss()
    # Gaussian margins: e^{-mbar + s^2/2} and the Gaussian logistic loss at the moments
    for population, mbar, s in [
        (gf.GaussianPopulation(2.0), b, 2.0 * np.linalg.norm(w)),
        (gf.TwoGaussianPopulation(0.3, 0.1, 1.0), 0.3 * w[0],
         np.hypot(0.1 * w[0], np.linalg.norm(w[1:]))),
        (gf.PowerLawPopulation([4.0, 2.0, 1.0]), b, np.sqrt(np.sum([4.0, 2.0, 1.0] * w**2))),
    ]:
        assert float(population.loss(exp, wj, bj)) == pytest.approx(
            np.exp(-mbar + s**2 / 2), rel=1e-14)
        assert float(population.log_loss(exp, wj, bj)) == pytest.approx(
            -mbar + s**2 / 2, rel=1e-14)
        assert float(population.loss(logistic, wj, bj)) == pytest.approx(
            float(pop.gaussian_logistic_loss(mbar, s)), rel=1e-14)
    # mixture: e^{-b + s^2/2} cosh(w.nu), and the mean of the two Gaussian logistic losses
    nu = np.array([1.0, 0.5, 0.0])
    mix, s = gf.MixturePopulation(nu, 2.0), 2.0 * np.linalg.norm(w)
    assert float(mix.loss(exp, wj, bj)) == pytest.approx(
        np.exp(-b + s**2 / 2) * np.cosh(w @ nu), rel=1e-14)
    both = pop.gaussian_logistic_loss(jnp.array([b + w @ nu, b - w @ nu]), s)
    assert float(mix.loss(logistic, wj, bj)) == pytest.approx(float(jnp.mean(both)), rel=1e-14)
    # threshold labels: the closed form of the exponential loss (docs/mathematics.md §13)
    th, a = gf.ThresholdPopulation(2.0, 0.9), normal.ppf(0.1)
    ref = np.exp(2.0**2 * (w @ w) / 2) * (np.exp(-b) * normal.cdf(-a - 2.0 * w[0])
                                          + np.exp(b) * normal.cdf(a - 2.0 * w[0]))
    assert float(th.loss(exp, wj, bj)) == pytest.approx(ref, rel=1e-13)
    # at r = 1 the threshold population is the Gaussian one, for both losses
    for loss in (exp, logistic):
        assert float(gf.ThresholdPopulation(2.0, 1.0).loss(loss, wj, bj)) == pytest.approx(
            float(gf.GaussianPopulation(2.0).loss(loss, wj, bj)), rel=1e-14)


@pytest.mark.parametrize("population", POPULATIONS, ids=lambda p: type(p).__name__)
def test_log_loss_is_the_log_of_loss_and_finite_where_loss_overflows(population):
    w = jnp.asarray([0.3, -0.1, 0.2])
    for loss in (gf.LogisticLoss(), gf.ExponentialLoss()):
        log_l = float(population.log_loss(loss, w, 0.4))
        assert np.exp(log_l) == pytest.approx(float(population.loss(loss, w, 0.4)), rel=1e-14)
    # the exponential loss at large |w| overflows; its log does not
    big = 60.0 * jnp.asarray([1.0, 1.0, 1.0])
    assert np.isfinite(float(population.log_loss(gf.ExponentialLoss(), -big, 0.0)))


# --------------------------------------------------------------------------- label encodings


@pytest.mark.parametrize(
    "labels, classes",
    [
        ([0, 1, 1, 0], (0, 1)),
        ([False, True, True, False], (False, True)),
        (["ham", "spam", "spam", "ham"], ("ham", "spam")),
        ([2.5, 7.0, 7.0, 2.5], (2.5, 7.0)),
        ([-1.0, 1.0, 1.0, -1.0], (-1.0, 1.0)),
    ],
)
def test_two_distinct_label_values_map_to_plus_minus_one(labels, classes):
    x = np.arange(8.0).reshape(4, 2)
    p = gf.Problem(x, labels)
    np.testing.assert_array_equal(np.asarray(p.y), [-1.0, 1.0, 1.0, -1.0])
    assert p.classes == classes and p.positive_class == classes[1]
    # naming the other class flips every label
    q = gf.Problem(x, labels, positive_class=classes[0])
    np.testing.assert_array_equal(np.asarray(q.y), [1.0, -1.0, -1.0, 1.0])
    assert q.positive_class == classes[0]


def test_held_out_labels_use_the_training_classes():
    x = np.arange(8.0).reshape(4, 2)
    p = gf.Problem(x, ["a", "b", "b", "a"], x_test=x[:2], y_test=["b", "b"])
    np.testing.assert_array_equal(np.asarray(p.y_test), [1.0, 1.0])
    with pytest.raises(ValueError, match="`y_test`"):
        gf.Problem(x, ["a", "b", "b", "a"], x_test=x[:2], y_test=["b", "c"])


def test_reduced_model_labels_still_allowed():
    # all +1 (one class) is the paper's model: no error, labels unchanged
    p = gf.Problem(np.ones((3, 2)), [1, 1, 1])
    np.testing.assert_array_equal(np.asarray(p.y), np.ones(3))


@pytest.mark.parametrize(
    "labels, match",
    [
        ([0, 0, 0, 0], "one class only"),
        (["a", "a", "a", "a"], "one class only"),
        ([0, 1, 2, 1], "exactly two classes; got 3"),
        (["a", "b", "c", "d"], "exactly two classes; got 4"),
        ([0.0, 1.0, np.nan, 1.0], "`y` contains NaN"),
    ],
)
def test_bad_label_sets_name_y(labels, match):
    with pytest.raises(ValueError, match=match) as info:
        gf.Problem(np.ones((4, 2)), labels)
    assert "`y`" in str(info.value)


def test_bad_positive_class():
    with pytest.raises(ValueError, match="`positive_class`"):
        gf.Problem(np.ones((4, 2)), [0, 1, 1, 0], positive_class=3)
    with pytest.raises(ValueError, match="`positive_class`"):
        gf.Problem(np.ones((4, 2)), positive_class=1)


def test_pandas_inputs():
    pd = pytest.importorskip("pandas", reason="pandas is not installed")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 3))
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    labels = pd.Series(["no", "yes", "yes", "no", "yes", "no"], dtype="category")
    p = gf.Problem(frame, labels, x_test=frame.iloc[:2], y_test=labels.iloc[:2])
    np.testing.assert_array_equal(np.asarray(p.x), x)
    np.testing.assert_array_equal(np.asarray(p.y), [-1, 1, 1, -1, 1, -1])
    assert p.positive_class == "yes"
    np.testing.assert_array_equal(np.asarray(p.y_test), [-1, 1])


def test_xarray_inputs():
    xr = pytest.importorskip("xarray", reason="xarray is not installed")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 2))
    p = gf.Problem(xr.DataArray(x, dims=("sample", "feature")),
                   xr.DataArray(np.array([0, 1, 1, 0, 1]), dims="sample"))
    np.testing.assert_array_equal(np.asarray(p.x), x)
    np.testing.assert_array_equal(np.asarray(p.y), [-1, 1, 1, -1, 1])
    assert p.classes == (0, 1)
