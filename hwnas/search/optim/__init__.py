"""Architecture optimizers: what decides which architectures the supernet prefers (registry :data:`OPTIMIZERS`).

Gradient (``binarygate``, ``darts``, ``directgrad``), policy (``reinforce``, ``enas``) and derivative-free
(``evolution``, ``regularized-evolution``, ``random``, ``grid``); see :mod:`hwnas.search.optim.base`."""

from . import enas, evolution, gradient, reinforce  # noqa: F401  (each registers itself)
from .base import OPTIMIZERS, ArchOptimizer, check_fit
from .evolution import DerivativeFree
from .reinforce import reward

__all__ = ["OPTIMIZERS", "ArchOptimizer", "DerivativeFree", "check_fit", "reward"]
