"""Tests of the extensions (docs/mathematics.md §13): finite σ_A, power-law and mixture data,
threshold labels — against Monte Carlo and scipy quadrature written apart from gradflow's code.

Monte Carlo checks use 1e6 samples and pass within 4 standard errors; quadrature checks
use `scipy.integrate.quad` / `scipy.stats` directly from the definitions.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.stats

import gradflow as gf
from gradflow._loss import ExponentialLoss, LogisticLoss
from gradflow._populations import bivariate_normal_cdf, powerlaw_variances

jax.config.update("jax_enable_x64", True)

N_MC = 1_000_000
Z_MAX = 4.0  # Monte Carlo agreement: within 4 standard errors
RTOL_QUAD = 1e-9  # quadrature contract of the threshold logistic loss (measured ~1e-15)

LOGISTIC, EXPONENTIAL = LogisticLoss(), ExponentialLoss()


def _mc_check(samples, value):
    """|mean(samples) - value| in standard errors of the mean."""
    samples = np.asarray(samples, dtype=np.float64)
    se = samples.std(ddof=1) / np.sqrt(samples.size)
    z = abs(samples.mean() - float(value)) / max(se, 1e-15)
    assert z < Z_MAX, (samples.mean(), float(value), se, z)


def _metrics(population, w, b):
    w, b = jnp.asarray(w), jnp.asarray(b, dtype=jnp.float64)
    f = jax.jit(lambda w, b: (population.accuracy(w, b), population.loss(LOGISTIC, w, b),
                              population.loss(EXPONENTIAL, w, b)))
    return tuple(float(v) for v in f(w, b))


# --------------------------------------------------------------------------- finite σ_A


@pytest.mark.parametrize(
    ("sigma_a", "w0", "b_scale", "seed"),
    [(0.0, 1.0, 0.3, 0), (0.05, 2.0, 0.2, 1), (0.1, 5.0, 0.5, 2), (0.3, 0.5, 0.05, 3)],
)
def test_two_gaussian_metrics_against_monte_carlo(sigma_a, w0, b_scale, seed):
    mu, sigma_b, d = 0.2, 1.0, 5
    rng = np.random.default_rng(100 + seed)
    w = np.r_[w0, b_scale * rng.standard_normal(d)]
    population = gf.TwoGaussianPopulation(mu, sigma_a, sigma_b)
    acc, log_loss, exp_loss = _metrics(population, w, 0.0)
    # X = y mu e_0 + xi, xi_0 ~ N(0, sigma_a^2), xi_perp ~ N(0, sigma_b^2 I); margin y W.X
    y = rng.choice([-1.0, 1.0], N_MC)
    xi = rng.standard_normal((N_MC, d + 1)) * np.r_[sigma_a, np.full(d, sigma_b)]
    x = y[:, None] * mu * np.eye(d + 1)[0] + xi
    m = y * (x @ w)
    _mc_check(m > 0, acc)
    _mc_check(np.logaddexp(0.0, -m), log_loss)
    _mc_check(np.exp(-m), exp_loss)
    # docs/mathematics.md §13: even with W_perp = 0 the accuracy is at most Phi(mu / sigma_a)
    if sigma_a > 0:
        best = population.accuracy(jnp.r_[1.0, jnp.zeros(d)], 0.0)
        assert float(best) == pytest.approx(scipy.stats.norm.cdf(mu / sigma_a), rel=1e-12)


# --------------------------------------------------------------------------- threshold labels


def test_bivariate_normal_cdf_against_quadrature():
    rng = np.random.default_rng(0)
    h, k = 3 * rng.standard_normal(60), 3 * rng.standard_normal(60)
    rho = rng.uniform(-1, 1, 60)
    rho[:10] = np.sign(rho[:10]) * rng.uniform(0.99, 0.99999, 10)  # Genz's |r| >= 0.925 branch
    ours = np.asarray(jax.jit(jax.vmap(bivariate_normal_cdf))(h, k, rho))
    for i in range(h.size):
        c = np.sqrt(1 - rho[i] ** 2)
        f = lambda g, i=i, c=c: scipy.stats.norm.pdf(g) * scipy.stats.norm.cdf(
            (k[i] - rho[i] * g) / c)
        ref = scipy.integrate.quad(f, -np.inf, h[i], epsabs=1e-15, epsrel=1e-13, limit=200)[0]
        assert abs(ours[i] - ref) < 1e-13, (h[i], k[i], rho[i], ours[i], ref)
    # rho = +-1 and rho = 0 exactly
    assert float(bivariate_normal_cdf(0.3, -0.2, 1.0)) == pytest.approx(
        scipy.stats.norm.cdf(-0.2), abs=1e-15)
    assert float(bivariate_normal_cdf(0.3, 0.2, -1.0)) == pytest.approx(
        scipy.stats.norm.cdf(0.3) - scipy.stats.norm.cdf(-0.2), abs=1e-15)
    assert float(bivariate_normal_cdf(0.3, 0.2, 0.0)) == pytest.approx(
        scipy.stats.norm.cdf(0.3) * scipy.stats.norm.cdf(0.2), abs=1e-15)


THRESHOLD_CASES = [
    # (sigma, r, w, b)
    (5.0, 0.95, np.array([0.30, -0.10, 0.20, 0.05]), 2.0),
    (5.0, 0.99, np.array([1.00, 0.50, -0.30, 0.20]), 10.0),
    (1.0, 0.50, np.array([-0.20, 0.10, 0.05, 0.00]), -1.0),
    (3.0, 0.80, np.array([0.02, 0.40, 0.00, -0.30]), 0.5),
    (5.0, 0.95, np.array([2.00, 0.00, 0.00, 0.00]), 3.0),  # w_perp = 0
    (5.0, 0.95, np.array([0.00, 1.00, 0.00, 0.00]), 3.0),  # w_1 = 0
]


@pytest.mark.parametrize(("sigma", "r", "w", "b"), THRESHOLD_CASES)
def test_threshold_accuracy_against_monte_carlo(sigma, r, w, b):
    population = gf.ThresholdPopulation(sigma, r)
    acc = float(jax.jit(lambda w, b: population.accuracy(w, b))(jnp.asarray(w), jnp.asarray(b)))
    rng = np.random.default_rng(int(1e3 * r + 10 * sigma))
    x = sigma * rng.standard_normal((N_MC, w.size))
    theta = sigma * scipy.stats.norm.ppf(1 - r)
    y = np.where(x[:, 0] > theta, 1.0, -1.0)
    assert abs(np.mean(y > 0) - r) < Z_MAX * np.sqrt(r * (1 - r) / N_MC) + 1e-12
    _mc_check(y * (x @ w + b) > 0, acc)


def _pdf(g):
    return np.exp(-0.5 * g * g) / np.sqrt(2.0 * np.pi)


def _ref_threshold_loss(sigma, r, w, b, loss):
    """E l(y(w.x + b)) by nested scipy quad: over g = x_1/sigma, then over the Gaussian
    part of the margin given g, N(b + sigma w_1 g, sigma^2 |w_perp|^2)."""
    a = scipy.stats.norm.ppf(1 - r)
    sw1, c = sigma * w[0], sigma * np.linalg.norm(w[1:])
    ell = (lambda m: np.logaddexp(0.0, -m)) if loss == "logistic" else (lambda m: np.exp(-m))

    def given_g(mu):
        if c == 0:
            return ell(mu)
        kink = [-mu / c] if abs(mu / c) < 30 else None
        return scipy.integrate.quad(lambda G: _pdf(G) * ell(mu + c * G), -40, 40, epsabs=0,
                                    epsrel=1e-11, limit=200, points=kink)[0]

    with np.errstate(over="ignore"):  # exp(-m) far out in the tails, times a zero density
        up = scipy.integrate.quad(lambda g: _pdf(g) * given_g(b + sw1 * g), a, 40, epsabs=0,
                                  epsrel=1e-11, limit=200)[0]
        lo = scipy.integrate.quad(lambda g: _pdf(g) * given_g(-(b + sw1 * g)), -40, a,
                                  epsabs=0, epsrel=1e-11, limit=200)[0]
    return up + lo


@pytest.mark.parametrize(("sigma", "r", "w", "b"), THRESHOLD_CASES)
def test_threshold_losses_against_quadrature(sigma, r, w, b):
    _, log_loss, exp_loss = _metrics(gf.ThresholdPopulation(sigma, r), w, b)
    ref = _ref_threshold_loss(sigma, r, w, b, "logistic")
    assert log_loss == pytest.approx(ref, rel=RTOL_QUAD)
    ref_exp = _ref_threshold_loss(sigma, r, w, b, "exponential")
    assert exp_loss == pytest.approx(ref_exp, rel=1e-8)


def test_threshold_logistic_loss_against_monte_carlo():
    sigma, r, w, b = THRESHOLD_CASES[0]
    _, log_loss, _ = _metrics(gf.ThresholdPopulation(sigma, r), w, b)
    rng = np.random.default_rng(7)
    x = sigma * rng.standard_normal((N_MC, w.size))
    y = np.where(x[:, 0] > sigma * scipy.stats.norm.ppf(1 - r), 1.0, -1.0)
    _mc_check(np.logaddexp(0.0, -y * (x @ w + b)), log_loss)


def test_threshold_r_one_is_the_reduced_model():
    problem = gf.threshold_problem(50, 20, 3.0, r=1.0, seed=4)
    ref = gf.gaussian_problem(50, 20, 3.0, seed=4)
    np.testing.assert_array_equal(np.asarray(problem.x), np.asarray(ref.x))
    assert np.all(np.asarray(problem.y) == 1.0)
    gauss = gf.GaussianPopulation(3.0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        w, b = 0.3 * rng.standard_normal(20), 3 * rng.standard_normal()
        ours = _metrics(problem.population, w, b)
        theirs = _metrics(gauss, w, b)
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    # r just below 1: the quadrature branch meets the closed form continuously (accuracy
    # and logistic loss; the exponential loss differs by a genuine (1 - r) e^{2b} term)
    near = gf.ThresholdPopulation(3.0, 1.0 - 1e-13)
    np.testing.assert_allclose(_metrics(near, w, b)[:2], theirs[:2], rtol=1e-9)


def test_threshold_metrics_at_w_zero_and_at_the_perfect_classifier():
    population = gf.ThresholdPopulation(2.0, 0.9)
    z = jnp.zeros(3)
    assert float(population.accuracy(z, 1.0)) == pytest.approx(0.9)
    assert float(population.accuracy(z, -1.0)) == pytest.approx(0.1)
    assert float(population.accuracy(z, 0.0)) == 0.0  # Theta(0) = 0 (docs/mathematics.md §2)
    # logistic loss at w = 0: r softplus(-b) + (1 - r) softplus(b)
    expected = 0.9 * np.logaddexp(0, -1.0) + 0.1 * np.logaddexp(0, 1.0)
    assert float(population.loss(LOGISTIC, z, 1.0)) == pytest.approx(expected, rel=1e-12)
    # docs/mathematics.md §13: A = 1 iff w_perp = 0, w_1 > 0 and b = -w_1 theta
    w = jnp.asarray([0.7, 0.0, 0.0])
    assert float(population.accuracy(w, -0.7 * population.threshold)) == pytest.approx(1.0)
    assert float(population.accuracy(w, -0.7 * population.threshold + 0.3)) < 0.99


def test_threshold_margin_moments_against_monte_carlo():
    sigma, r, w, b = THRESHOLD_CASES[3]
    population = gf.ThresholdPopulation(sigma, r)
    mean, std = (float(v) for v in population.margin_moments(jnp.asarray(w), b))
    rng = np.random.default_rng(3)
    x = sigma * rng.standard_normal((N_MC, w.size))
    y = np.where(x[:, 0] > population.threshold, 1.0, -1.0)
    m = y * (x @ w + b)
    _mc_check(m, mean)
    assert std == pytest.approx(m.std(), rel=5e-3)


# --------------------------------------------------------------------------- power law and mixture


def test_powerlaw_data_have_the_claimed_covariance():
    n, d, sigma, alpha = 200_000, 8, 2.0, 1.0
    problem = gf.powerlaw_problem(n, d, sigma, alpha=alpha, seed=1)
    x = np.asarray(problem.x)
    v = np.asarray(problem.population.variances)
    k = np.arange(1, d + 1)
    np.testing.assert_allclose(v / v[0], k ** -alpha, rtol=1e-14)  # spectrum ∝ k^-alpha
    assert v.mean() == pytest.approx(sigma**2, rel=1e-14)  # normalized to mean sigma^2
    cov = np.cov(x, rowvar=False)
    # sample covariance: each entry within 4 standard errors of diag(v)
    se = np.sqrt((np.outer(v, v) + np.diag(v**2)) / n)
    assert np.all(np.abs(cov - np.diag(v)) < Z_MAX * se)
    assert np.all(np.abs(x.mean(axis=0)) < Z_MAX * np.sqrt(v / n))
    np.testing.assert_allclose(powerlaw_variances(d, sigma, 0.0), np.full(d, sigma**2))


def test_powerlaw_metrics_against_monte_carlo():
    d, sigma = 6, 1.5
    population = gf.PowerLawPopulation(powerlaw_variances(d, sigma, 1.0))
    rng = np.random.default_rng(5)
    w, b = 0.4 * rng.standard_normal(d), 0.3
    acc, log_loss, exp_loss = _metrics(population, w, b)
    x = rng.standard_normal((N_MC, d)) * np.sqrt(np.asarray(population.variances))
    m = x @ w + b
    _mc_check(m > 0, acc)
    _mc_check(np.logaddexp(0.0, -m), log_loss)
    _mc_check(np.exp(-m), exp_loss)


def test_mixture_data_have_the_claimed_moments():
    n, d, sigma, nu_norm = 400_000, 5, 1.5, 2.0
    x = np.asarray(gf.mixture_problem(n, d, sigma, nu_norm=nu_norm, seed=2).x)
    nu = np.r_[nu_norm, np.zeros(d - 1)]
    # mean 0, covariance sigma^2 I + nu nu^T, symmetric: odd moments vanish, and the
    # first coordinate is bimodal with E x_1^4 = nu^4 + 6 nu^2 sigma^2 + 3 sigma^4
    cov = sigma**2 * np.eye(d) + np.outer(nu, nu)
    assert np.all(np.abs(x.mean(axis=0)) < Z_MAX * np.sqrt(np.diag(cov) / n))
    emp = np.cov(x, rowvar=False)
    se = np.sqrt((cov**2 + np.outer(np.diag(cov), np.diag(cov))) / n) * 1.5  # 4th-moment slack
    assert np.all(np.abs(emp - cov) < Z_MAX * se)
    _mc_check(x[:, 0] ** 3, 0.0)
    _mc_check(x[:, 0] ** 4, nu_norm**4 + 6 * nu_norm**2 * sigma**2 + 3 * sigma**4)
    default = gf.mixture_problem(10, d, sigma, seed=0)
    np.testing.assert_array_equal(np.asarray(default.population.nu), np.r_[sigma, np.zeros(d - 1)])


def test_mixture_metrics_against_monte_carlo():
    d, sigma, nu_norm = 5, 1.0, 1.0
    population = gf.MixturePopulation(np.r_[nu_norm, np.zeros(d - 1)], sigma)
    rng = np.random.default_rng(6)
    w, b = np.r_[0.8, 0.3 * rng.standard_normal(d - 1)], 0.4
    acc, log_loss, exp_loss = _metrics(population, w, b)
    c = rng.choice([-1.0, 1.0], N_MC)
    x = c[:, None] * np.asarray(population.nu) + sigma * rng.standard_normal((N_MC, d))
    m = x @ w + b
    _mc_check(m > 0, acc)
    _mc_check(np.logaddexp(0.0, -m), log_loss)
    _mc_check(np.exp(-m), exp_loss)
    # the closed form of docs/mathematics.md §13
    s = sigma * np.linalg.norm(w)
    assert exp_loss == pytest.approx(np.exp(-b + s**2 / 2) * np.cosh(w[0] * nu_norm), rel=1e-13)
    mean, std = population.margin_moments(jnp.asarray(w), b)
    assert float(std) == pytest.approx(np.sqrt(s**2 + (w[0] * nu_norm) ** 2), rel=1e-13)
    _mc_check(m, mean)


# --------------------------------------------------------------------------- every tool


def _extension_problems(n=40, d=18):
    return {
        "powerlaw": gf.powerlaw_problem(n, d, 3.0, seed=0),
        "mixture": gf.mixture_problem(n, d, 3.0, seed=0),
        "threshold": gf.threshold_problem(n, d, 3.0, r=0.95, seed=0),
        "two_gaussian": gf.two_gaussian_problem(n, d, mu=0.2, sigma_a=0.05, sigma_b=1.0),
    }


def test_every_tool_accepts_the_extension_problems():
    problems = _extension_problems()
    for name, problem in problems.items():
        gd = gf.descend(problem, 0.05, 200, record=5)
        saveat = np.union1d(np.asarray(gd.t), np.geomspace(1e-2, 1e6, 12))
        traj = gf.integrate(problem, 1e6, saveat=saveat, max_steps=20_000)
        assert traj.successful, name
        for metric in ("train_loss", "train_accuracy", "test_loss", "test_accuracy"):
            values = getattr(traj, metric)
            assert np.all(np.isfinite(values)), (name, metric)
        assert np.all((traj.test_accuracy >= 0) & (traj.test_accuracy <= 1))
        comp = gf.compare(traj, gd)  # GD at t = k eta against the flow
        assert np.all(comp.params < 0.5), name
        sep = gf.separability(problem)
        assert sep.agree, name
        fp = gf.fixed_point(problem, throw=False)
        assert fp.status in ("successful", "separable"), name
        if name in ("powerlaw", "mixture"):  # the reduced form: labels +1 with a bias
            asy = gf.asymptotics(problem)
            assert 0.5 <= asy.test_accuracy <= 1.0, name
            if fp.successful:
                assert int(gf.stability(problem, fp.w).unstable) == 0, name
                assert asy.test_accuracy == 1.0
    # an ensemble of two draws (one compiled solve), member by member as integrate
    make = lambda s: gf.threshold_problem(40, 18, 3.0, r=0.9, seed=s)
    ens = gf.ensemble([make(0), make(1)], 1e6, saveat=np.geomspace(1e-2, 1e6, 12),
                      max_steps=20_000)
    assert ens.successful.all()
    single = gf.integrate(make(1), 1e6, saveat=np.geomspace(1e-2, 1e6, 12), max_steps=20_000)
    np.testing.assert_allclose(ens.metric("test_accuracy")[1], single.test_accuracy,
                               rtol=1e-6, atol=1e-9)


def test_threshold_flow_tends_to_max_margin_with_accuracy_below_one():
    # r < 1: separable with the bias, so the test accuracy stays below 1 (docs/mathematics.md §13)
    problem = gf.threshold_problem(60, 10, 2.0, r=0.9, seed=1)
    sep = gf.separability(problem, extended=True)
    assert sep.separable
    traj = gf.integrate(problem, 1e12)
    assert traj.train_accuracy[-1] == 1.0
    assert 0.5 < traj.test_accuracy[-1] < 1.0


def test_metrics_jit_and_vmap():
    rng = np.random.default_rng(0)
    ws, bs = jnp.asarray(0.3 * rng.standard_normal((7, 4))), jnp.asarray(rng.standard_normal(7))
    for population in [gf.PowerLawPopulation(powerlaw_variances(4, 2.0)),
                       gf.MixturePopulation(np.r_[1.0, 0, 0, 0], 1.0),
                       gf.ThresholdPopulation(2.0, 0.95)]:
        for loss in (LOGISTIC, EXPONENTIAL):
            one = lambda w, b, p=population, ls=loss: p.loss(ls, w, b)
            batched = jax.jit(jax.vmap(one))(ws, bs)
            single = [float(population.loss(loss, ws[i], bs[i])) for i in range(7)]
            np.testing.assert_allclose(np.asarray(batched), single, rtol=1e-12)
        acc = jax.jit(jax.vmap(lambda w, b, p=population: p.accuracy(w, b)))(ws, bs)
        assert np.all((np.asarray(acc) >= 0) & (np.asarray(acc) <= 1))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: gf.threshold_problem(10, 3, 1.0, r=0.0), "`r`"),
        (lambda: gf.threshold_problem(10, 3, 1.0, r=1.5), "`r`"),
        (lambda: gf.ThresholdPopulation(1.0, 2.0), "`r`"),
        (lambda: gf.ThresholdPopulation(-1.0, 0.5), "`sigma`"),
        (lambda: gf.mixture_problem(10, 3, 1.0, nu_norm=-1.0), "`nu_norm`"),
        (lambda: gf.MixturePopulation(np.r_[np.nan, 0.0], 1.0), "`nu`"),
        (lambda: gf.powerlaw_problem(10, 3, 1.0, alpha=np.inf), "`alpha`"),
        (lambda: gf.powerlaw_problem(10, 3, -1.0), "`sigma`"),
        (lambda: gf.powerlaw_problem(0, 3, 1.0), "`n`"),
        (lambda: gf.PowerLawPopulation(np.r_[1.0, -1.0]), "`variances`"),
    ],
)
def test_bad_arguments_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
