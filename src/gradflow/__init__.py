"""gradflow: training by gradient descent as a dynamical system.

Gradient flow of linear classifiers integrated with diffrax in physical, conformal and
log time, following Beck, Levi & Bar-Sinai, "Grokking at the Edge of Linear
Separability" (ICML 2025).
"""

import importlib as _importlib
import typing as _typing

from ._config import configure as _configure

_configure()  # float64, before any array is made

# The core, imported with gradflow: problems, losses, clocks, the solve, trajectories,
# ensembles and finite steps (jax, diffrax, equinox and optax; no scipy, no xarray).
from ._bdf import BDF as BDF
from ._bdf import BDFController as BDFController
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
from ._rkc import RKC as RKC
from ._trajectory import Trajectory as Trajectory

# Loaded on first use (PEP 562 `__getattr__` below): the analysis, which imports scipy,
# and sweeps. Looking up `gradflow.fixed_point` (or importing the name from gradflow)
# loads its module then; importing the package alone does not (tests/test_import.py).
_LAZY = {
    "._analysis._asymptotics": (
        "Asymptotics", "asymptotics",
    ),
    "._analysis._draws": (
        "draw_points", "fixed_point_sweep",
    ),
    "._analysis._curves": (
        "crossing_time", "step_axis",
    ),
    "._analysis._bifurcation": (
        "Bifurcation", "BifurcationPoint", "DivergenceLaw", "bifurcation", "critical_point",
        "divergence_law", "extrapolate",
    ),
    "._analysis._fixed_point": (
        "AnalysisResults", "FixedPoint", "fixed_point",
    ),
    "._analysis._grokking_prediction": (
        "GrokkingPrediction", "grokking_prediction",
    ),
    "._analysis._grokking_time": (
        "GrokkingTime", "grokking_time",
    ),
    "._analysis._large_n": (
        "CGMTFixedPoint", "cgmt_fixed_point", "cgmt_norm", "gardner_margin",
        "limiting_accuracy",
    ),
    "._analysis._one_dim": (
        "TwoPointFixedPoints", "TwoPointModel", "TwoPointSolution",
    ),
    "._analysis._regimes": (
        "Regime", "regime",
    ),
    "._analysis._separability": (
        "Separability", "log_wendel", "separability", "wendel",
    ),
    "._analysis._power_law": (
        "PowerLaw", "fit_power_law",
    ),
    "._analysis._relaxation": (
        "Relaxation", "relaxation",
    ),
    "._analysis._slowing_down": (
        "SlowingDown", "slowing_down",
    ),
    "._analysis._stability": (
        "LotkaVolterra", "LVState", "Stability", "lotka_volterra", "stability",
    ),
    "._sweep": (
        "load_sweep", "sweep",
    ),
}
_MODULE_OF = {name: module for module, names in _LAZY.items() for name in names}

if _typing.TYPE_CHECKING:  # the same names, statically: for type checkers and the API docs
    from ._analysis._asymptotics import Asymptotics as Asymptotics
    from ._analysis._asymptotics import asymptotics as asymptotics
    from ._analysis._bifurcation import Bifurcation as Bifurcation
    from ._analysis._bifurcation import BifurcationPoint as BifurcationPoint
    from ._analysis._bifurcation import DivergenceLaw as DivergenceLaw
    from ._analysis._bifurcation import bifurcation as bifurcation
    from ._analysis._bifurcation import critical_point as critical_point
    from ._analysis._bifurcation import divergence_law as divergence_law
    from ._analysis._bifurcation import extrapolate as extrapolate
    from ._analysis._curves import crossing_time as crossing_time
    from ._analysis._curves import step_axis as step_axis
    from ._analysis._draws import draw_points as draw_points
    from ._analysis._draws import fixed_point_sweep as fixed_point_sweep
    from ._analysis._fixed_point import AnalysisResults as AnalysisResults
    from ._analysis._fixed_point import FixedPoint as FixedPoint
    from ._analysis._fixed_point import fixed_point as fixed_point
    from ._analysis._grokking_prediction import GrokkingPrediction as GrokkingPrediction
    from ._analysis._grokking_prediction import grokking_prediction as grokking_prediction
    from ._analysis._grokking_time import GrokkingTime as GrokkingTime
    from ._analysis._grokking_time import grokking_time as grokking_time
    from ._analysis._large_n import CGMTFixedPoint as CGMTFixedPoint
    from ._analysis._large_n import cgmt_fixed_point as cgmt_fixed_point
    from ._analysis._large_n import cgmt_norm as cgmt_norm
    from ._analysis._large_n import gardner_margin as gardner_margin
    from ._analysis._large_n import limiting_accuracy as limiting_accuracy
    from ._analysis._one_dim import TwoPointFixedPoints as TwoPointFixedPoints
    from ._analysis._one_dim import TwoPointModel as TwoPointModel
    from ._analysis._one_dim import TwoPointSolution as TwoPointSolution
    from ._analysis._power_law import PowerLaw as PowerLaw
    from ._analysis._power_law import fit_power_law as fit_power_law
    from ._analysis._regimes import Regime as Regime
    from ._analysis._regimes import regime as regime
    from ._analysis._relaxation import Relaxation as Relaxation
    from ._analysis._relaxation import relaxation as relaxation
    from ._analysis._separability import Separability as Separability
    from ._analysis._separability import log_wendel as log_wendel
    from ._analysis._separability import separability as separability
    from ._analysis._separability import wendel as wendel
    from ._analysis._slowing_down import SlowingDown as SlowingDown
    from ._analysis._slowing_down import slowing_down as slowing_down
    from ._analysis._stability import LotkaVolterra as LotkaVolterra
    from ._analysis._stability import LVState as LVState
    from ._analysis._stability import Stability as Stability
    from ._analysis._stability import lotka_volterra as lotka_volterra
    from ._analysis._stability import stability as stability
    from ._sweep import load_sweep as load_sweep
    from ._sweep import sweep as sweep

__version__ = "0.1.0"

__all__ = sorted([name for name in globals() if not name.startswith("_")] + list(_MODULE_OF))


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'gradflow' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module, __name__), name)
    globals()[name] = value  # later look-ups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODULE_OF))
