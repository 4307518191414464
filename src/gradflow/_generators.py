"""Problem generators: random training sets with the population they are drawn from.

- `gaussian_problem`: the paper's reduced model; `two_gaussian_problem`: the original
  two-Gaussian model (finite $\\sigma_A$, paper Sec. 5), and `reduced_problem`, which maps
  it at $\\sigma_A = 0$ onto the reduced model (docs/mathematics.md §1, §13);
- the extensions of paper App. G and App. I (docs/mathematics.md §13): `powerlaw_problem` (power-law
  covariance), `mixture_problem` (a symmetric Gaussian mixture) and `threshold_problem`
  (threshold labels).

Each returns a `Problem` that every tool accepts (`integrate`, `ensemble`, `descend`,
`separability`, `fixed_point`, ...), its population giving the test metrics. Data come
from `numpy.random.default_rng(seed)`, so a seed gives the same data as the numpy
expression each docstring states.
"""

import math

import numpy as np

from ._checks import _finite, _positive, _positive_int, _seed
from ._populations import (
    MixturePopulation,
    PowerLawPopulation,
    ThresholdPopulation,
    TwoGaussianPopulation,
    powerlaw_variances,
)
from ._problem import Problem

__all__ = [
    "gaussian_problem",
    "mixture_problem",
    "powerlaw_problem",
    "reduced_problem",
    "threshold_problem",
    "two_gaussian_problem",
]


def gaussian_problem(n: int, d: int, sigma: float, *, seed: int = 0, loss="logistic") -> Problem:
    """The paper's reduced model: $x_i \\sim \\mathcal N(0, \\sigma^2 I_d)$, all labels $+1$.

    Data are `sigma * numpy.random.default_rng(seed).standard_normal((n, d))`, so the
    same seed gives the same data as that numpy expression.

    **Arguments:** `n`, `d` positive integers ($\\lambda = d/n$); `sigma > 0`; `seed`, a
    non-negative integer or a list of them; `loss` as for `Problem`.

    **Returns:** a `Problem` with a `GaussianPopulation(sigma)` for test metrics.

    **Raises:** `ValueError` for sizes that are not positive integers, a bad $\\sigma$ or
    `seed`.
    """
    n = _positive_int("n", n)
    d = _positive_int("d", d)
    sigma = _positive("sigma", sigma)
    x = sigma * np.random.default_rng(_seed(seed)).standard_normal((n, d))
    return Problem(x, loss=loss, sigma=sigma)


def two_gaussian_problem(
    n: int,
    d: int,
    *,
    mu: float,
    sigma_a: float,
    sigma_b: float,
    seed: int = 0,
    loss="logistic",
) -> Problem:
    """The original two-Gaussian model of the paper (Sec. 3.1, 5; docs/mathematics.md §1, §13).

    Labels $y = \\pm1$ equiprobable, inputs $X = y\\mu e_0 + \\xi \\in \\mathbb R^{d+1}$ with
    $\\xi_0 \\sim \\mathcal N(0,\\sigma_A^2)$ (the paper's $\\sigma_1$) and
    $\\xi_\\perp \\sim \\mathcal N(0, \\sigma_B^2 I_d)$; a linear model without bias.
    For $\\sigma_A = 0$ it maps exactly onto the reduced model with $x = z/\\mu$,
    $\\sigma = \\sigma_B/\\mu$, $b = \\mu W_0$, $w = \\mu W_\\perp$, $t_{red} = \\mu^2 t$
    (see `reduced_problem`).

    **Arguments:** `n`, `d` (noise directions, $\\lambda = d/n$); `mu > 0`; `sigma_a >= 0`;
    `sigma_b > 0`; `seed`; `loss`.

    **Returns:** a `Problem` with `fit_bias=False`, data of shape `(n, d + 1)` and a
    `TwoGaussianPopulation`.

    **Raises:** `ValueError` for non-positive sizes, `mu` or `sigma_b`, or `sigma_a < 0`.
    """
    n = _positive_int("n", n)
    d = _positive_int("d", d)
    mu = _positive("mu", mu)
    sigma_b = _positive("sigma_b", sigma_b)
    sigma_a = float(sigma_a)
    if not (math.isfinite(sigma_a) and sigma_a >= 0):
        raise ValueError(f"`sigma_a` must be >= 0 and finite; got {sigma_a!r}.")
    rng = np.random.default_rng(_seed(seed))
    y = rng.choice(np.array([-1.0, 1.0]), size=n)
    xi = rng.standard_normal((n, d + 1)) * np.r_[sigma_a, np.full(d, sigma_b)]
    x = y[:, None] * mu * np.eye(d + 1)[0] + xi
    population = TwoGaussianPopulation(mu, sigma_a, sigma_b)
    return Problem(x, y, loss=loss, population=population, fit_bias=False)


def reduced_problem(problem: Problem) -> Problem:
    """The reduced model equivalent to a two-Gaussian problem with $\\sigma_A = 0$.

    Uses docs/mathematics.md §1: $x = z/\\mu$ with $z = (yX)_\\perp$, $\\sigma = \\sigma_B/\\mu$. A
    trajectory $(W_0, W_\\perp)(t)$ of the full model equals $(b, w)(\\mu^2 t)/\\mu$.

    **Arguments:** `problem`, from `two_gaussian_problem(..., sigma_a=0)`.

    **Returns:** the reduced-model `Problem` (labels +1, `GaussianPopulation`).

    **Raises:** `ValueError` unless `problem` has a `TwoGaussianPopulation` with `sigma_a == 0`.
    """
    population = problem.population
    if not isinstance(population, TwoGaussianPopulation) or float(population.sigma_a) != 0:
        raise ValueError("`problem` must be a two-Gaussian problem with sigma_a = 0.")
    mu = float(population.mu)
    return Problem(
        np.asarray(problem.z)[:, 1:] / mu,
        loss=problem.loss,
        sigma=float(population.sigma_b) / mu,
    )


# --------------------------------------------------------------------------- extensions


def powerlaw_problem(
    n: int, d: int, sigma: float, *, alpha: float = 1.0, seed: int = 0, loss="logistic"
) -> Problem:
    """Gaussian data with a power-law covariance spectrum, all labels $+1$ (App. G (i)).

    $x_{ik} = \\sqrt{v_k}\\,g_{ik}$ with $g$ =
    `numpy.random.default_rng(seed).standard_normal((n, d))` and
    $v_k = \\sigma^2k^{-\\alpha}/(\\frac1d\\sum_jj^{-\\alpha})$, so the covariance is
    diagonal in the coordinate basis with eigenvalues $\\propto k^{-\\alpha}$ and mean
    $\\sigma^2$ (the paper's $\\alpha$ is lost; docs/mathematics.md §13 uses $\\alpha = 1$).
    The law is symmetric under $x \\to -x$, so Wendel's formula and $\\lambda_c = \\frac12$ hold.

    **Arguments:** `n`, `d` positive integers ($\\lambda = d/n$); `sigma > 0` (the RMS
    scale); `alpha`: the spectral exponent, finite (0 gives `gaussian_problem`'s law);
    `seed`; `loss` as for `Problem`.

    **Returns:** a `Problem` with a `PowerLawPopulation` for test metrics.

    **Raises:** `ValueError` for non-positive sizes or $\\sigma$, or a non-finite `alpha`.
    """
    n = _positive_int("n", n)
    d = _positive_int("d", d)
    sigma = _positive("sigma", sigma)
    alpha = _finite("alpha", alpha)
    var = powerlaw_variances(d, sigma, alpha)
    x = np.random.default_rng(_seed(seed)).standard_normal((n, d)) * np.sqrt(var)
    return Problem(x, loss=loss, population=PowerLawPopulation(var))


def mixture_problem(
    n: int,
    d: int,
    sigma: float,
    *,
    nu_norm: float | None = None,
    seed: int = 0,
    loss="logistic",
) -> Problem:
    """Data from a symmetric two-Gaussian mixture, all labels $+1$ (App. G (ii)).

    $x_i = c_i\\nu + \\sigma g_i$ with signs $c_i = \\pm1$ equiprobable and
    $\\nu = \\|\\nu\\|e_1$ (any direction is equivalent, the noise being isotropic). With
    `rng = numpy.random.default_rng(seed)` the signs are `rng.choice([-1, 1], n)` and
    then $g$ = `rng.standard_normal((n, d))`. The law is symmetric under $x \\to -x$, so
    Wendel's formula and $\\lambda_c = \\frac12$ hold (the paper's $\\nu$ is lost;
    docs/mathematics.md §13 suggests $\\|\\nu\\| = \\sigma$, the default).

    **Arguments:** `n`, `d` positive integers; `sigma > 0`; `nu_norm`: $\\|\\nu\\| \\ge 0$
    (default $\\sigma$); `seed`; `loss` as for `Problem`.

    **Returns:** a `Problem` with a `MixturePopulation` for test metrics.

    **Raises:** `ValueError` for non-positive sizes or $\\sigma$, or a negative or
    non-finite `nu_norm`.
    """
    n = _positive_int("n", n)
    d = _positive_int("d", d)
    sigma = _positive("sigma", sigma)
    nu_norm = sigma if nu_norm is None else nu_norm
    try:
        nu_norm = float(nu_norm)
    except (TypeError, ValueError):
        raise ValueError(f"`nu_norm` must be a number >= 0; got {nu_norm!r}.") from None
    if not (math.isfinite(nu_norm) and nu_norm >= 0):
        raise ValueError(f"`nu_norm` must be >= 0 and finite; got {nu_norm!r}.")
    rng = np.random.default_rng(_seed(seed))
    signs = rng.choice(np.array([-1.0, 1.0]), size=n)
    nu = np.zeros(d)
    nu[0] = nu_norm
    x = signs[:, None] * nu + sigma * rng.standard_normal((n, d))
    return Problem(x, loss=loss, population=MixturePopulation(nu, sigma))


def threshold_problem(
    n: int, d: int, sigma: float, *, r: float, seed: int = 0, loss="logistic"
) -> Problem:
    """Gaussian data with threshold labels: $+1$ iff $x_1 > \\sigma\\Phi^{-1}(1 - r)$
    (paper App. I; docs/mathematics.md §13).

    The data are those of `gaussian_problem(n, d, sigma, seed=seed)` (same numpy
    expression), so $r = 1$ gives exactly that problem. For $r < 1$ the labelled data
    are separable with the bias ($w = e_1$, $b = -\\theta$), so gradient flow tends to
    the max-margin solution and the limiting test accuracy is below 1.

    **Arguments:** `n`, `d` positive integers; `sigma > 0`; `r`: the fraction labelled
    $+1$, in $(0, 1]$ (the paper's Fig. 16 uses 1, 0.99, 0.95); `seed`; `loss` as for
    `Problem`.

    **Returns:** a `Problem` (labels $\\pm1$, with a bias) with a `ThresholdPopulation`.

    **Raises:** `ValueError` for non-positive sizes or $\\sigma$, or $r \\notin (0, 1]$.
    """
    n = _positive_int("n", n)
    d = _positive_int("d", d)
    sigma = _positive("sigma", sigma)
    r = _finite("r", r, "a number in (0, 1]")
    if not (0.0 < r <= 1.0):
        raise ValueError(f"`r` must be in (0, 1]; got {r!r}.")
    x = sigma * np.random.default_rng(_seed(seed)).standard_normal((n, d))
    population = ThresholdPopulation(sigma, r)
    theta = float(population.threshold)
    y = np.where(x[:, 0] > theta, 1.0, -1.0)
    return Problem(x, y, loss=loss, population=population)
