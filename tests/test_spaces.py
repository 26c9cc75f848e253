from __future__ import annotations

import pytest

from hwnas.space import ArchError, BlockSpec, build_model, count_macs, count_params, get_space
from hwnas.space.spaces import PUBLISHED_MOBILE, PUBLISHED_MOBILE_WIDTHS


def test_proxyless_mobile_layout():
    s = get_space("proxyless-mobile")
    pos = s.positions()
    assert len(pos) == 21
    assert s.depths == (4, 4, 4, 4, 4, 1)
    assert [p.out_ch for p in pos[::4]] == [24, 40, 80, 96, 192, 320]
    firsts = [p for p in pos if p.index in (0, 4, 8, 12, 16, 20)]
    assert [p.stride for p in firsts] == [2, 2, 2, 1, 2, 1]
    assert s.stem_hw == 112 and pos[0].in_hw == 112 and s.final_hw == 7
    assert len(s.candidates) == 6
    for p in pos:
        zero_ok = p.stride == 1 and p.in_ch == p.out_ch
        assert (BlockSpec.zero() in p.choices) == zero_ok
    # zero is allowed exactly in the 15 non-first blocks of stages 1-5 (stage 4 starts with stride 1 but widens)
    assert sum(BlockSpec.zero() in p.choices for p in pos) == 15
    # 11 distinct block shapes x 6 candidates + stem, first block, head conv, pool, classifier
    assert len(s.layer_keys()) == 11 * 6 + 5


def test_published_proxylessnas_mobile_is_expressible():
    s = get_space("proxyless-mobile", widths=PUBLISHED_MOBILE_WIDTHS)
    arch = s.parse(PUBLISHED_MOBILE)
    # the paper's network: 4.1 M parameters, 320 M multiply-adds
    assert s.params(arch) == pytest.approx(4.08e6, rel=0.01)
    assert s.macs(arch) == pytest.approx(320e6, rel=0.01)
    get_space("proxyless-mobile").parse(PUBLISHED_MOBILE)  # its choices also fit the default widths


def test_cifar_variant_and_parameters():
    s = get_space("proxyless-cifar")
    assert s.resolution == 32 and s.stem_hw == 32 and s.final_hw == 4 and s.num_blocks == 21
    wide = get_space("proxyless-cifar", width_mult=1.0)
    assert wide.positions()[-1].out_ch == 320 and s.positions()[-1].out_ch == 160
    assert get_space("proxyless-mobile", resolution=160).final_hw == 5
    assert len(get_space("proxyless-mobile", kernels=(3, 5)).candidates) == 4


@pytest.mark.parametrize("name", ["tiny", "proxyless-cifar", "proxyless-mobile"])
def test_analytic_macs_and_params_match_the_built_model(name):
    s = get_space(name)
    for seed in range(2):
        arch = s.sample(seed)
        m = build_model(arch, s)
        assert count_params(m) == s.params(arch)
        assert count_macs(m, (1, 3, s.resolution, s.resolution)) == s.macs(arch)


def test_invalid_architectures_name_the_block():
    s = get_space("proxyless-mobile")
    blocks = ["k3e3"] * 21
    blocks[4] = "zero"
    bad = "|".join("-".join(blocks[i:i + 4]) for i in range(0, 20, 4)) + "|" + blocks[20]
    with pytest.raises(ArchError, match=r"block 4 \(stage 1\): 'zero' is not allowed.*stride 2"):
        s.parse(bad)
    with pytest.raises(ArchError, match="21 blocks"):
        s.parse("k3e3-k3e3|k3e3")
    with pytest.raises(ArchError, match="'k9e3' is not allowed; allowed: k3e3"):
        s.parse(bad.replace("zero", "k9e3"))


def test_unknown_space_lists_known():
    with pytest.raises(KeyError, match="proxyless-mobile"):
        get_space("nope")
