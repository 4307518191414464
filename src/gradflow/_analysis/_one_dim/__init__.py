"""The two-point model of the paper (§4, App. E) and its closed forms (docs/mathematics.md §9–11).

Two training points on a line, in our flipped convention (docs/mathematics.md §11): $x_1 = \\sigma$,
$x_2 = \\sigma a$ with $a = 2\\lambda - 1$, labels $+1$, a bias, the exponential loss
$\\tilde L(w) = \\frac12(e^{-\\sigma w} + e^{-\\sigma aw})$, and the Gaussian population
$\\mathcal N(0, \\sigma^2)$ for test metrics (docs/mathematics.md §4 with $s = \\sigma|w|$).
The data are separable from the origin iff $\\lambda > \\frac12$ ($x_2 > 0$ here, $x_2 < 0$ in the
paper's convention).

`TwoPointModel` is a thin `equinox.Module` holding $\\lambda$, $\\sigma$ and the
`Problem` it builds (`.problem`); `as_problem` lets gradflow's analysis functions take
either. It is not a `Problem` subclass: `Problem` is a final class with its own
validating `__init__`, and `Problem.lam` is $d/n = \\frac12$ for any two points in one
dimension, which would clash with the model's $\\lambda$ (wrap, do not
override concrete methods).

Closed forms (conformal time $\\tau$, $d\\tau = e^{-b}dt$; docs/mathematics.md §11):

- general $a \\in (-1, 1)\\setminus\\{0\\}$: $\\tau = F(w) - F(w_0)$ with
  $F(w) = \\frac2{\\sigma^2}e^{\\sigma w}{}_2F_1(1, c; 1+c; -ae^{\\sigma(1-a)w})$,
  $c = \\frac1{1-a}$, inverted for $w(\\tau)$ by safeguarded Newton; $b(w)$ in closed form;
- (A) $\\lambda = 0$, (B) $\\lambda = \\frac12$, (C) $\\lambda = 1$: explicit $w(\\tau)$,
  $b(\\tau)$; physical time exact for (A) (through ${}_2F_1$), (C), and (B) at
  $\\sigma = 1$, where $\\tau(t)$ is a Lambert W (`scipy.special.lambertw`).

Elsewhere $t = \\int_0^\\tau e^{b}d\\tau'$ by Gauss–Legendre quadrature, accumulated in
logarithms so that no horizon overflows. Near the fixed point ($a < 0$) the unknown is
$\\xi = \\log|x|$, $x = \\sigma(1-a)(w^* - w)$, and ${}_2F_1$ near argument 1 is replaced
by its logarithmic expansion in $1 - z = -\\mathrm{expm1}(-x)$, so that $w - w^*$, and
with it $b(w)$, keep full relative accuracy as $\\tau \\to \\infty$.

Layout: `_model` (`TwoPointModel`, its results and the dispatcher to the cases),
`_base` (the interface of a case and the physical time by quadrature they share),
`_explicit` (cases A, B, C and the start at rest on the fixed point), `_hypergeometric`
(general $\\lambda$ on either side of $\\frac12$), `_special` (special functions and the
bracketed Newton solver). Each case is an immutable `equinox.Module` (host-side numpy).
"""

from ..._problem import as_problem as as_problem  # re-exported, as before the split
from ._model import TwoPointFixedPoints as TwoPointFixedPoints
from ._model import TwoPointModel as TwoPointModel
from ._model import TwoPointSolution as TwoPointSolution
