"""The search space as data: the built-in MBConv spaces (block and architecture specs, named spaces, table keys,
the model builder) and model spaces (a user's network with LayerChoice / InputChoice, apply_fixed_architecture)."""

from .builder import build_layer, build_model, count_macs, count_params
from .choices import InputChoice, LayerChoice
from .fixed import apply_fixed_architecture
from .keys import LayerKey
from .model_space import ModelSpace
from .spaces import BlockPosition, SearchSpace, StageSpec, get_space, list_spaces, register_space
from .spec import ArchError, ArchSpec, BlockSpec, ModelArch

__all__ = [
    "ArchError", "ArchSpec", "BlockPosition", "BlockSpec", "InputChoice", "LayerChoice", "LayerKey", "ModelArch",
    "ModelSpace", "SearchSpace", "StageSpec", "apply_fixed_architecture",
    "build_layer", "build_model", "count_macs", "count_params", "get_space", "list_spaces", "register_space",
]
