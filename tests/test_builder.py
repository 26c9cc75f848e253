from __future__ import annotations

import pytest
import torch

from hwnas.space import build_layer, build_model, get_space
from hwnas.space.builder import build_block


@pytest.mark.parametrize("name", ["tiny", "proxyless-cifar", "proxyless-mobile"])
def test_every_candidate_in_every_position_has_the_right_shape(name):
    s = get_space(name)
    with torch.no_grad():
        for pos in s.positions():
            x = torch.randn(1, pos.in_ch, pos.in_hw, pos.in_hw)
            for choice in pos.choices:
                y = build_block(pos, choice).eval()(x)
                assert y.shape == (1, pos.out_ch, pos.out_hw, pos.out_hw), (pos.index, choice.token)


@pytest.mark.parametrize("name", ["tiny", "proxyless-cifar", "proxyless-mobile"])
def test_every_table_key_builds_a_layer_of_its_shape(name):
    s = get_space(name)
    with torch.no_grad():
        for key in s.layer_keys():
            y = build_layer(key).eval()(torch.randn(key.input_shape))
            expect = (1, key.out_ch) if key.op in ("Logits", "AvgPool2D") else (1, key.out_ch, key.out_hw, key.out_hw)
            assert tuple(y.shape) == expect, key.label


def test_whole_networks_classify(tiny):
    for seed in range(3):
        m = build_model(tiny.sample(seed), tiny).eval()
        assert m(torch.randn(2, 3, 16, 16)).shape == (2, 10)
    smallest = tiny.uniform(tiny.candidates[0])
    assert build_model(smallest, tiny)(torch.randn(1, 3, 16, 16)).shape == (1, 10)
