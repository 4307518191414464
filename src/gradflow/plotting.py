"""Figures from gradflow's results. Every function reads results only and returns the
`matplotlib.figure.Figure` it drew; saving it is the caller's (`fig.savefig`). matplotlib
is an optional dependency (`pip install "gradflow[plot]"`), imported inside each function,
so importing gradflow never imports it; without it each function raises an `ImportError`
that says so. The paper's figures are a command: `gradflow figure NAME`."""

from ._plots._bifurcation import plot_bifurcation as plot_bifurcation
from ._plots._descend import convergence_figure as convergence_figure
from ._plots._descend import grokking_figure as grokking_figure
from ._plots._descend import optimizer_figure as optimizer_figure
from ._plots._slowing_down import grokking_ratio_figure as grokking_ratio_figure
from ._plots._slowing_down import slowing_down_figure as slowing_down_figure
from ._plots._slowing_down import two_point_figure as two_point_figure
from ._plots._summary import grokking_curves as grokking_curves
from ._plots._summary import sweep_summary as sweep_summary
