from __future__ import annotations

import pytest
import yaml

from hwnas.profilers import TableError, build_table
from hwnas.profilers.ofa_yaml import export_yaml, import_yaml, key_from_string, key_to_string
from hwnas.space import get_space


@pytest.mark.parametrize("dialect", ["proxyless", "ofa"])
def test_yaml_round_trip(tmp_path, tiny, fake, dialect):
    table = build_table(tiny, fake, tmp_path / "t.csv", progress=False)
    y = tmp_path / "t.yaml"
    assert export_yaml(table, y, dialect=dialect) == len(table)
    back, report = import_yaml(y, tiny)
    assert report.imported == len(table) and not report.skipped
    assert set(back.keys()) == set(table.keys())
    for k in table.keys():
        assert back.latency_ms(k) == pytest.approx(table.stats(k)["mean_ms"], rel=1e-9)
        assert back.stats(k)["std_ms"] == pytest.approx(table.stats(k)["std_ms"], rel=1e-6, abs=1e-12)


def test_published_key_formats_parse():
    k = key_from_string("expanded_conv-input:112x112x16-output:56x56x24-expand:3-kernel:5-stride:2-idskip:0")
    assert (k.in_hw, k.in_ch, k.out_hw, k.out_ch, k.expand, k.kernel, k.stride, k.idskip) == \
        (112, 16, 56, 24, 3, 5, 2, False)
    o = key_from_string("expanded_conv-input:56x56x32-output:28x28x48-expand:128-kernel:3-stride:2-idskip:0-se:0-hs:0")
    assert o.expand == 4 and o.mid_ch == 128
    assert key_from_string("Logits-input:1x1x1280-output:1000").out_ch == 1000
    assert key_to_string(k) == "expanded_conv-input:112x112x16-output:56x56x24-expand:3-kernel:5-stride:2-idskip:0"
    assert key_to_string(o, "ofa").endswith("expand:128-kernel:3-stride:2-idskip:0-se:0-hs:0")


def test_mobile_space_keys_use_the_published_names():
    keys = {key_to_string(k) for k in get_space("proxyless-mobile").layer_keys()}
    assert "Conv-input:224x224x3-output:112x112x32" in keys
    assert "expanded_conv-input:112x112x32-output:112x112x16-expand:1-kernel:3-stride:1-idskip:0" in keys
    assert "Conv_1-input:7x7x320-output:7x7x1280" in keys
    assert "AvgPool2D-input:7x7x1280-output:1x1x1280" in keys
    assert "Logits-input:1x1x1280-output:1000" in keys


def test_entries_outside_the_space_are_reported_not_dropped(tmp_path, tiny):
    y = tmp_path / "ofa.yaml"
    y.write_text(yaml.safe_dump({
        "expanded_conv-input:56x56x32-output:28x28x48-expand:128-kernel:3-stride:2-idskip:0-se:1-hs:0": {
            "count": 5, "mean": 1.0, "std": 0.1},
        "expanded_conv-input:56x56x32-output:28x28x48-expand:128-kernel:3-stride:2-idskip:0-se:0-hs:1": {
            "count": 5, "mean": 1.0, "std": 0.1},
        "Conv_2-input:1x1x960-output:1x1x1280": {"count": 5, "mean": 0.2, "std": 0.0},
        "expanded_conv-input:56x56x32-output:28x28x48-expand:128-kernel:3-stride:2-idskip:0-se:0-hs:0": {
            "count": 5, "mean": 1.0, "std": 0.1},
        "Logits-input:1x1x1280-output:1000": {"count": 5, "mean": "fast", "std": 0},
    }))
    table, report = import_yaml(y, tiny)
    assert report.imported == 1 and len(table) == 1
    reasons = " ".join(why for _, why in report.skipped)
    assert "se:1" in reasons and "hs:1" in reasons and "Conv_2" in reasons and "not finite" in reasons


def test_corrupt_yaml_is_a_clear_error(tmp_path, tiny):
    y = tmp_path / "bad.yaml"
    y.write_text("a: [unclosed")
    with pytest.raises(TableError, match="corrupt"):
        import_yaml(y, tiny)
