"""The search space as data: block and architecture specs, named spaces, table keys and the model builder."""

from .builder import build_layer, build_model, count_macs, count_params
from .keys import LayerKey
from .spaces import BlockPosition, SearchSpace, StageSpec, get_space, list_spaces, register_space
from .spec import ArchError, ArchSpec, BlockSpec

__all__ = [
    "ArchError", "ArchSpec", "BlockPosition", "BlockSpec", "LayerKey", "SearchSpace", "StageSpec",
    "build_layer", "build_model", "count_macs", "count_params", "get_space", "list_spaces", "register_space",
]
