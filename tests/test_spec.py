from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwnas.space import ArchError, ArchSpec, BlockSpec, get_space, list_spaces

TOKENS = st.sampled_from(["zero", "k3e3", "k3e6", "k5e3", "k5e6", "k7e3", "k7e6", "k9e4", "k1e1"])


@given(st.lists(st.lists(TOKENS, min_size=1, max_size=6), min_size=1, max_size=7))
def test_string_round_trip_any_token_layout(stages):
    arch = ArchSpec(tuple(tuple(BlockSpec.parse(t) for t in s) for s in stages))
    text = arch.to_string()
    assert ArchSpec.from_string(text) == arch
    assert ArchSpec.from_json(arch.to_json()) == arch
    assert text == "|".join("-".join(s) for s in stages)


@settings(max_examples=50)
@given(st.sampled_from(list_spaces()), st.integers(0, 2**32 - 1))
def test_sampled_architectures_round_trip_and_validate(name, seed):
    space = get_space(name)
    arch = space.sample(seed)
    assert space.parse(arch.to_string()) == arch
    assert space.parse(arch.to_json()) == arch
    assert space.sample(seed) == arch  # the seed fixes the sample


def test_parse_tolerates_spaces_and_case():
    assert ArchSpec.from_string(" K3E3 - zero | k5e6 ") == ArchSpec.from_string("k3e3-zero|k5e6")


@pytest.mark.parametrize("text, fragment", [
    ("", "empty"),
    ("k3e3--k5e3", "empty block token"),
    ("k3e3-k4e3", "kernel must be odd"),
    ("k3x3", "unknown block token 'k3x3'"),
    ("k3e3||k3e3", "empty block token"),
])
def test_malformed_strings_are_refused_clearly(text, fragment):
    with pytest.raises(ArchError, match=fragment):
        ArchSpec.from_string(text)


def test_malformed_json_is_refused():
    with pytest.raises(ArchError, match="malformed"):
        ArchSpec.from_json("{not json")
    with pytest.raises(ArchError, match="needs a 'stages'"):
        ArchSpec.from_json('{"x": 1}')
