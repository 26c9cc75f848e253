"""ProxylessNAS search: binary-gated supernet, gradient (Proxyless-G) and REINFORCE (Proxyless-R) search.

    from hwnas.search import SearchConfig, run_search
    result = run_search(space, costs, data, SearchConfig(target_ms=0.4, n_epochs=20), run_dir="runs/a")
    result.arch, result.predicted_ms          # also written to runs/a/arch.json

``costs`` is a :class:`hwnas.predictors.BlockCosts` (``lut_block_costs(table, space)`` or a calibrated
predictor's ``block_costs()``); ``data`` a :class:`hwnas.train.data.DataSplits` (``hwnas.train.data.load_data``).
"""

from ..train.device import Runtime, resolve_device
from ..train.retrain import RetrainConfig, RetrainResult, retrain
from .config import BINARY_MODES, RL_PRESETS, SearchConfig
from .estim import ESTIMATORS, Estimator
from .export import ExportedArch, export_arch, load_exported
from .latency_loss import LATENCY_LOSSES, architecture_loss
from .methods import METHODS, method_names
from .mixed import MIXED_OPS, MixedOp
from .optim import OPTIMIZERS, ArchOptimizer, reward
from .run import RunDir, RunError
from .searcher import SearchDiverged, SearchResult, check_target, run_search
from .supernet import MixedBlock, ModelSupernet, Supernet, build_supernet
from .trainer import ProxylessNasTrainer

__all__ = [
    "ESTIMATORS", "METHODS", "OPTIMIZERS", "ArchOptimizer", "Estimator", "method_names",
    "BINARY_MODES", "LATENCY_LOSSES", "RL_PRESETS", "ExportedArch", "MIXED_OPS", "MixedBlock", "MixedOp", "ModelSupernet", "RetrainConfig",
    "RetrainResult", "RunDir", "RunError", "SearchConfig", "SearchDiverged", "SearchResult", "Supernet",
    "architecture_loss", "build_supernet", "check_target", "export_arch", "load_exported", "reward", "retrain",
    "run_search", "ProxylessNasTrainer", "Runtime", "resolve_device",
]
