"""The search space as data: block and architecture specs, named spaces, table keys and the model builder."""

from .builder import build_layer, build_model, count_macs, count_params
from .choices import InputChoice, LayerChoice
from .keys import LayerKey
from .model_space import ModelArch, ModelSpace, apply_fixed_architecture
from .spaces import BlockPosition, SearchSpace, StageSpec, get_space, list_spaces, register_space
from .spec import ArchError, ArchSpec, BlockSpec

__all__ = [
    "ArchError", "ArchSpec", "BlockPosition", "BlockSpec", "InputChoice", "LayerChoice", "LayerKey", "ModelArch",
    "ModelSpace", "SearchSpace", "StageSpec", "apply_fixed_architecture",
    "build_layer", "build_model", "count_macs", "count_params", "get_space", "list_spaces", "register_space",
]
