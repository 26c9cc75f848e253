"""What trains one network, used by every search: data (DataLoaders, presets), where it runs (device placement and
mixed precision), distributed training (DDP), retraining a chosen architecture, and export to ONNX / ExecuTorch.

    from hwnas.train import RetrainConfig, retrain
    from hwnas.train.data import load_data
"""

from .device import Runtime, resolve_device
from .retrain import RetrainConfig, RetrainResult, retrain

__all__ = ["RetrainConfig", "RetrainResult", "Runtime", "resolve_device", "retrain"]
