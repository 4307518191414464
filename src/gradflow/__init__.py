"""gradflow: training by gradient descent as a dynamical system.

Gradient flow of linear classifiers integrated with diffrax in physical, conformal and
log time, following Beck, Levi & Bar-Sinai, "Grokking at the Edge of Linear
Separability" (ICML 2025).
"""

import jax as _jax

_jax.config.update("jax_enable_x64", True)

from ._flow import AbstractClock as AbstractClock
from ._flow import ConformalTime as ConformalTime
from ._flow import LogTime as LogTime
from ._flow import PhysicalTime as PhysicalTime
from ._integrate import integrate as integrate
from ._loss import AbstractLoss as AbstractLoss
from ._loss import ExponentialLoss as ExponentialLoss
from ._loss import LogisticLoss as LogisticLoss
from ._problem import AbstractPopulation as AbstractPopulation
from ._problem import GaussianPopulation as GaussianPopulation
from ._problem import Params as Params
from ._problem import Problem as Problem
from ._problem import TwoGaussianPopulation as TwoGaussianPopulation
from ._problem import gaussian_problem as gaussian_problem
from ._problem import reduced_problem as reduced_problem
from ._problem import two_gaussian_problem as two_gaussian_problem
from ._trajectory import RESULTS as RESULTS
from ._trajectory import IntegrationError as IntegrationError
from ._trajectory import Trajectory as Trajectory

__version__ = "0.1.0"
