"""One status vocabulary for every result: `RESULTS`, `AbstractResult`, `GradflowError`.

Every result object that can fail carries `result` (a `RESULTS` member, or for a batch
an integer array of their indices) and shares three properties: `successful` (bool, or
a bool array), `status` (the member's name: `"successful"`, `"separable"`,
`"max_steps_reached"`, ...) and `message` (what happened and what to do about it; `""`
when successful). Entry points with `throw=True` raise a `GradflowError` (a
`RuntimeError`) whose `.result` is the partial result, so a failure never loses what
was computed.
"""

from typing import Any

import diffrax
import equinox as eqx
import numpy as np


class RESULTS(diffrax.RESULTS):  # pyright: ignore[reportGeneralTypeIssues]
    """diffrax's results plus gradflow's own cases, each with what to do about it."""

    nonfinite_state = (
        "The state or its vector field became non-finite (inf or NaN); the trajectory "
        "up to the last finite state is returned. Check the data scale and `y0`, or use "
        "`clock=\"log\"`."
    )
    threshold_not_reached = (
        "A threshold was not reached before `t_max`. Try a larger `t_max`."
    )
    diverged = (
        "The optimizer diverged (non-finite parameters); the trajectory up to the last "
        "finite step is returned. Try a smaller learning rate."
    )
    separable = (
        "The data are linearly separable from the origin: $\\log\\tilde L$ is unbounded "
        "below and there is no finite fixed point $w^*$ (the flow goes to the max-margin "
        "direction; see `separability` and `asymptotics`)."
    )
    newton_stalled = (
        "Newton's line search could not decrease $\\log\\tilde L$ before the gradient "
        "tolerance was met (singular Hessian: do the points span R^d?). Try a larger "
        "`gtol`."
    )
    degenerate_support = (
        "Some support vectors of the extended hard-margin SVM carry zero dual weight "
        "(a degenerate SVM): the finite part of the separable flow, $\\theta - "
        "\\hat\\theta\\log t$, drifts like $\\log\\log t$ along them and has no limit; "
        "`theta_hat` and `margin` are still exact."
    )
    fit_failed = (
        "A statistical fit did not converge (too few or too noisy points); the estimate "
        "is returned as found. Use more realizations or λ values."
    )


#: The name of every `RESULTS` member, by index.
_NAMES = {int(item._value): name for name, item in RESULTS._name_to_item.items()}
_SUCCESSFUL = int(RESULTS.successful._value)


def _index(result):
    """Indices of a `RESULTS` member, or of an array of them."""
    if hasattr(result, "_value"):  # a RESULTS member (equinox EnumerationItem)
        return np.asarray(result._value)
    return np.asarray(result)


def result_index(result) -> int:
    """The integer index of one `RESULTS` member (as stored in files)."""
    return int(_index(result))


class AbstractResult(eqx.Module):
    """The properties every fallible result shares, read from its `result`.

    For one result they are a `bool` and two `str`; for a batch (`result` an integer
    array of `RESULTS` indices) they are arrays of the same shape.
    """

    @property
    def successful(self):
        """Whether it succeeded (per member for a batch)."""
        ok = _index(self.result) == _SUCCESSFUL
        return bool(ok) if ok.ndim == 0 else ok

    @property
    def status(self):
        """The `RESULTS` member's name: `"successful"`, `"separable"`, ...; `"not_computed"`
        for members of a batch never computed (index -1)."""
        idx = _index(self.result)
        names = np.vectorize(lambda i: _NAMES.get(int(i), "not_computed"), otypes=[object])
        out = names(idx).astype(str)
        return str(out) if idx.ndim == 0 else out

    @property
    def message(self):
        """What happened and what to do about it (`""` when successful)."""
        idx = _index(self.result)
        messages = RESULTS._index_to_message
        texts = np.vectorize(lambda i: messages[int(i)] if int(i) >= 0 else "not computed",
                             otypes=[object])
        out = texts(idx).astype(str)
        return str(out) if idx.ndim == 0 else out


class GradflowError(RuntimeError):
    """A computation that did not succeed, raised by entry points with `throw=True`.

    `.result` holds the partial result (whatever type the entry point returns), so a
    failure never loses what was computed.
    """

    def __init__(self, message: str, result: Any = None):
        super().__init__(message)
        self.result = result


class IntegrationError(GradflowError):
    """A solve that failed (`integrate`, `descend`, `grokking_time`, `relaxation`); the
    partial `Trajectory` (or result) is `.result`, also named `.trajectory`."""

    def __init__(self, message: str, trajectory: Any = None):
        super().__init__(message, trajectory)
        self.trajectory = trajectory


class AnalysisError(GradflowError):
    """An analysis that did not converge (`fixed_point`); the partial result is
    `.result`."""
