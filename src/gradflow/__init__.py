"""gradflow: training by gradient descent as a dynamical system.

Gradient flow of linear classifiers integrated with diffrax in physical, conformal and
log time, following Beck, Levi & Bar-Sinai, "Grokking at the Edge of Linear
Separability" (ICML 2025).
"""

from ._config import configure as _configure

_configure()

from ._analysis._asymptotics import Asymptotics as Asymptotics
from ._analysis._asymptotics import asymptotics as asymptotics
from ._analysis._bifurcation import Bifurcation as Bifurcation
from ._analysis._bifurcation import BifurcationPoint as BifurcationPoint
from ._analysis._bifurcation import DivergenceLaw as DivergenceLaw
from ._analysis._bifurcation import bifurcation as bifurcation
from ._analysis._bifurcation import critical_point as critical_point
from ._analysis._bifurcation import divergence_law as divergence_law
from ._analysis._bifurcation import extrapolate as extrapolate
from ._analysis._fixed_point import AnalysisResults as AnalysisResults
from ._analysis._fixed_point import FixedPoint as FixedPoint
from ._analysis._fixed_point import fixed_point as fixed_point
from ._analysis._grokking_time import GrokkingPrediction as GrokkingPrediction
from ._analysis._grokking_time import GrokkingTime as GrokkingTime
from ._analysis._grokking_time import grokking_prediction as grokking_prediction
from ._analysis._grokking_time import grokking_time as grokking_time
from ._analysis._large_n import CGMTFixedPoint as CGMTFixedPoint
from ._analysis._large_n import cgmt_fixed_point as cgmt_fixed_point
from ._analysis._large_n import cgmt_norm as cgmt_norm
from ._analysis._large_n import gardner_margin as gardner_margin
from ._analysis._large_n import limiting_accuracy as limiting_accuracy
from ._analysis._one_dim import TwoPointFixedPoints as TwoPointFixedPoints
from ._analysis._one_dim import TwoPointModel as TwoPointModel
from ._analysis._one_dim import TwoPointSolution as TwoPointSolution
from ._analysis._separability import Separability as Separability
from ._analysis._separability import log_wendel as log_wendel
from ._analysis._separability import separability as separability
from ._analysis._separability import wendel as wendel
from ._analysis._slowing_down import PowerLaw as PowerLaw
from ._analysis._slowing_down import Relaxation as Relaxation
from ._analysis._slowing_down import SlowingDown as SlowingDown
from ._analysis._slowing_down import fit_power_law as fit_power_law
from ._analysis._slowing_down import relaxation as relaxation
from ._analysis._slowing_down import slowing_down as slowing_down
from ._analysis._stability import LotkaVolterra as LotkaVolterra
from ._analysis._stability import LVState as LVState
from ._analysis._stability import Stability as Stability
from ._analysis._stability import lotka_volterra as lotka_volterra
from ._analysis._stability import stability as stability
from ._compare import Comparison as Comparison
from ._compare import compare as compare
from ._descend import descend as descend
from ._ensemble import Ensemble as Ensemble
from ._ensemble import ensemble as ensemble
from ._ensemble import stack_problems as stack_problems
from ._flow import AbstractClock as AbstractClock
from ._flow import ConformalTime as ConformalTime
from ._flow import FlowTerm as FlowTerm
from ._flow import LogTime as LogTime
from ._flow import PhysicalTime as PhysicalTime
from ._generators import gaussian_problem as gaussian_problem
from ._generators import mixture_problem as mixture_problem
from ._generators import powerlaw_problem as powerlaw_problem
from ._generators import reduced_problem as reduced_problem
from ._generators import threshold_problem as threshold_problem
from ._generators import two_gaussian_problem as two_gaussian_problem
from ._integrate import default_clock as default_clock
from ._integrate import default_solver as default_solver
from ._integrate import integrate as integrate
from ._loss import AbstractLoss as AbstractLoss
from ._loss import ExponentialLoss as ExponentialLoss
from ._loss import LogisticLoss as LogisticLoss
from ._optimizer import descent_bound as descent_bound
from ._populations import AbstractGaussianMarginPopulation as AbstractGaussianMarginPopulation
from ._populations import AbstractPopulation as AbstractPopulation
from ._populations import GaussianPopulation as GaussianPopulation
from ._populations import MixturePopulation as MixturePopulation
from ._populations import PowerLawPopulation as PowerLawPopulation
from ._populations import ThresholdPopulation as ThresholdPopulation
from ._populations import TwoGaussianPopulation as TwoGaussianPopulation
from ._problem import Params as Params
from ._problem import Problem as Problem
from ._problem import as_problem as as_problem
from ._radau import Radau5 as Radau5
from ._results import RESULTS as RESULTS
from ._results import AnalysisError as AnalysisError
from ._results import GradflowError as GradflowError
from ._results import IntegrationError as IntegrationError
from ._sweep import load_sweep as load_sweep
from ._sweep import sweep as sweep
from ._trajectory import Trajectory as Trajectory

__version__ = "0.1.0"

# the regimes of any data set (#12)
from ._analysis._regimes import Regime as Regime
from ._analysis._regimes import regime as regime
