"""Populations: the data distributions that define a problem's test metrics.

The interface is `AbstractPopulation` (`accuracy` and `log_loss` abstract, `loss`
concrete); `AbstractGaussianMarginPopulation` implements both from the margin's moments.
The closed forms of a Gaussian margin themselves are in `gradflow._population`.

- `_abstract`: the two abstract classes and the field checks;
- `_gaussian_margin`: `GaussianPopulation`, `TwoGaussianPopulation`, `PowerLawPopulation`;
- `_mixture`: `MixturePopulation` (paper App. G (ii));
- `_threshold`: `ThresholdPopulation` (paper App. I), with `_bivariate_normal`.

All population metrics are pure JAX, float64, and work under `jax.jit` and `jax.vmap`
(`Trajectory` metrics are computed under `jit`).
"""

from ._abstract import AbstractGaussianMarginPopulation as AbstractGaussianMarginPopulation
from ._abstract import AbstractPopulation as AbstractPopulation
from ._bivariate_normal import bivariate_normal_cdf as bivariate_normal_cdf
from ._gaussian_margin import GaussianPopulation as GaussianPopulation
from ._gaussian_margin import PowerLawPopulation as PowerLawPopulation
from ._gaussian_margin import TwoGaussianPopulation as TwoGaussianPopulation
from ._gaussian_margin import powerlaw_variances as powerlaw_variances
from ._mixture import MixturePopulation as MixturePopulation
from ._threshold import ThresholdPopulation as ThresholdPopulation
