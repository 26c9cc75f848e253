"""Mixed ops: how a decision of the supernet runs its candidates (registry :data:`MIXED_OPS`).

``BinGate`` (ProxylessNAS binary gates), ``BinGateUniform`` (gates for α, uniform paths for the weights),
``WeightedSum`` (DARTS), ``GumbelSum`` (SNAS / FBNet / GDAS), ``Index`` (SPOS, Once-for-All, ENAS)."""

from . import bingate, gumbel, index, weighted  # noqa: F401  (each registers itself)
from .base import MIXED_OPS, MixedOp
from .bingate import BINARY_MODES, BinGate, BinGateUniform
from .gumbel import GumbelSum
from .index import Index
from .weighted import WeightedSum

__all__ = ["BINARY_MODES", "MIXED_OPS", "BinGate", "BinGateUniform", "GumbelSum", "Index", "MixedOp",
           "WeightedSum"]
