"""Draw one of the paper's figures from what `gradflow._analysis._paper_figures` and
`_paper_models` computed (a `PaperFigure`): its drawing function called with the
figure's `plot` arguments, and the caption written under the axes. Reads results only;
`gradflow figure` (`gradflow._cli_figures`) writes the files."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._appendix import (
    initial_conditions_figure,
    optimizers_by_lambda_figure,
    paper_size_figure,
    variance_scale_figure,
)
from ._descend import grokking_figure, optimizer_figure
from ._figures import (
    add_caption,
    distributions_figure,
    fig1_figure,
    fig2_figure,
    fig4_figure,
    fig6_figure,
    fig7_figure,
)
from ._matplotlib import needs_matplotlib
from ._slowing_down import grokking_ratio_figure, two_point_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .._analysis._paper_figures import PaperFigure

DRAW = {
    "fig1": fig1_figure,
    "fig2": fig2_figure,
    "fig3": two_point_figure,
    "fig4": fig4_figure,
    "fig5": optimizer_figure,
    "fig6": fig6_figure,
    "fig7": fig7_figure,
    "fig9": grokking_ratio_figure,
    "fig11": optimizers_by_lambda_figure,
    "fig14": grokking_figure,
    "fig15": distributions_figure,
    "fig16": grokking_figure,
    "figF1": variance_scale_figure,
    "figF3": initial_conditions_figure,
    "fig1-paper-size": paper_size_figure,
}

#: Drawn as the scripts of examples/ draw them (constrained layout), without a caption.
NO_CAPTION = frozenset({"fig3", "fig9"})


@needs_matplotlib
def paper_figure(result: PaperFigure) -> Figure:
    """The `Figure` of one computed paper figure, with its caption under the axes
    (except Figs. 3 and 9).

    **Arguments:** `result`, a `PaperFigure`.

    **Returns:** the `Figure`.
    """
    fig = DRAW[result.name](**result.plot)
    if result.name not in NO_CAPTION:
        add_caption(fig, result.caption)
    return fig
