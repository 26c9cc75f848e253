"""What an architecture optimizer is (ModularNAS's ``optim``): the part that decides which architectures the
supernet prefers.

Three families share one interface, as Optuna's samplers share theirs:

- gradient optimizers (``binarygate``, ``darts``, ``directgrad``, ``directgrad-bilevel``) step α with the gradient
  of the architecture loss (cross-entropy ⊕ the expected-latency term) through a mixed op that gives one;
- policy optimizers (``reinforce``, ``enas``) sample single paths, score them on a held-out batch with the reward
  ACC·(LAT/T)^w and step their policy (α, or ENAS's LSTM controller) by REINFORCE;
- derivative-free optimizers (``evolution``, ``regularized-evolution``, ``random``, ``grid``) propose whole
  architectures (:meth:`ArchOptimizer.ask`) and learn from their scores (:meth:`ArchOptimizer.tell`); an estimator
  scores them with the trained supernet's weights or by training each alone.

The search loop knows only this interface; a new optimizer is one file registered in :data:`OPTIMIZERS`
(``docs/write-your-own.md``). ``fits`` says which mixed ops it can drive; a combination that makes no sense is
refused in one line naming what fits (:func:`check_fit`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from ...errors import UsageError
from ...predictors.block_costs import BlockCosts
from ..registry import Registry


class ArchOptimizer:
    """``fits``: ``"gradient"`` (needs a mixed op whose α gets a gradient) or ``"single_path"`` (needs one that runs
    single paths). ``steps_on_valid``: it takes architecture steps on held-out batches during the search stage."""

    name: ClassVar[str]
    fits: ClassVar[str] = "single_path"
    steps_on_valid: ClassVar[bool] = False
    derivative_free: ClassVar[bool] = False

    def __init__(self, *, config: Any, costs: BlockCosts, dist: Any = None, runtime: Any = None,
                 latency_fn: Any = None):
        from ...train.distributed import SINGLE

        self.config, self.costs = config, costs
        self.dist = dist or SINGLE
        self.runtime = runtime
        self.latency_fn = latency_fn

    # ---- what it learns -----------------------------------------------------------------------------------------
    def bind(self, optimizer: torch.optim.Optimizer) -> None:
        """The Adam the search built over :meth:`parameters` (kept by optimizers that step it themselves)."""

    def parameters(self, net: Any) -> list[torch.nn.Parameter]:
        """What the architecture Adam steps: α by default (an ENAS controller brings its own)."""
        return list(net.arch_parameters())

    def optimizer_settings(self) -> dict[str, Any] | None:
        """Adam's settings for :meth:`parameters` when they are not α's (``arch_optim_lr``, ...); None: α's."""
        return None

    def weight_path(self, net: Any, generator: torch.Generator) -> bool:
        """Set the path of a weight step in the search stage; False leaves it to the mixed op (a path from α)."""
        return False

    def step(self, net: Any, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer,
             generator: torch.Generator) -> dict[str, Any]:
        """One architecture step on a held-out batch (``steps_on_valid`` optimizers)."""
        raise NotImplementedError

    def weight_loss(self, net: Any, loss: torch.Tensor) -> torch.Tensor:
        """The loss a weight step back-propagates (DirectGrad adds the latency term, since α learns from it)."""
        return loss

    def after_weight_step(self, net: Any, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        """After a weight step (DirectGrad steps α on the same batch's gradient)."""
        return {}

    # ---- what it proposes ---------------------------------------------------------------------------------------
    def probabilities(self, net: Any) -> list[torch.Tensor]:
        """Per decision, how much the optimizer favours each option (softmax α; ENAS: its greedy path's)."""
        return [p.detach() for p in net.probs()]

    def best_indices(self, net: Any) -> list[int]:
        return net.argmax_indices()

    def ask(self, n: int) -> list[list[int]]:
        """Derivative-free optimizers: ``n`` architectures (option indices) to score next."""
        raise NotImplementedError(f"{self.name} does not propose architectures")

    def tell(self, indices: list[int], score: float) -> None:
        raise NotImplementedError

    # ---- resume -------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        # a part of your own: the settings it was created with (hwnas's own parts spell theirs out)
        return {"type": self.name, **getattr(self, "resolved_settings", {})}


OPTIMIZERS: Registry[ArchOptimizer] = Registry(
    "architecture optimizer", "OPTIMIZERS", "hwnas.search.optim",
    hints={"lr": "α's Adam learning rate is --arch-lr, or optim.lr in an experiment file",
           "weight_decay": "α's Adam weight decay is optim.weight_decay in an experiment file",
           "eps": "α's Adam eps is optim.eps in an experiment file"})


def fits(cls: type[ArchOptimizer], mixed_op: Any) -> bool:
    return bool(mixed_op.gradient) if cls.fits == "gradient" else bool(mixed_op.single_path)


def check_fit(optimizer: str, mixed_op: Any) -> None:
    """Refuse, in one line naming what fits, an optimizer that cannot drive ``mixed_op``."""
    from ..mixed import MIXED_OPS

    cls = OPTIMIZERS.get(optimizer)
    if fits(cls, mixed_op):
        return
    why = ("it steps α along the loss's gradient, which this mixed op does not give" if cls.fits == "gradient"
           else "it scores single sampled paths, and this mixed op runs every candidate at once")
    good = [n for n in MIXED_OPS.canonical() if fits(cls, MIXED_OPS.create(n))]
    fitting = [n for n in OPTIMIZERS.canonical() if fits(OPTIMIZERS.get(n), mixed_op)]
    raise UsageError(f"optimizer {optimizer!r} does not fit mixed op {mixed_op.name!r}: {why}; {optimizer} fits "
                     f"{', '.join(good)}; {mixed_op.name} fits {', '.join(fitting) or 'no optimizer'}")
