"""jaxtyping aliases shared by gradflow's modules."""

from jaxtyping import Array, ArrayLike, Bool, Float, Int, Real

Data = Float[Array, "n d"]
Labels = Float[Array, " n"]
Weights = Float[Array, " d"]
Scalar = Float[Array, ""]
ScalarLike = Real[ArrayLike, ""]
Times = Float[Array, " times"]

__all__ = ["Array", "ArrayLike", "Bool", "Data", "Float", "Int", "Labels", "Real",
           "Scalar", "ScalarLike", "Times", "Weights"]
