"""NNI interop (issue 28, items 4, 5, 11 and the round trip): every dialect of NNI's fixed-architecture JSON
(NNI 1.x's bool / float multi-hot lists, its human-readable names and indices, NNI 2/3's index lists) reads the
same in ``apply_fixed_architecture`` and ``ModelSpace.parse``, or is refused in one line where it is ambiguous;
hwnas's ``nni_arch.json`` is NNI 1.x's format with every key; NNI 1.x's constructor arguments port unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from hwnas.errors import UsageError
from hwnas.space import InputChoice, LayerChoice, ModelSpace, apply_fixed_architecture
from hwnas.space.fixed import FixedInputChoice
from hwnas.space.spec import ArchError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from examples.nni_mnist import Net  # noqa: E402


# ---- small models: one of each kind of choice ----------------------------------------------------------------------
class Inputs(nn.Module):
    """A LayerChoice and four InputChoices: any number of 2, 1 of 2, 2 of 3, 1 of 3."""

    def __init__(self):
        super().__init__()
        self.op = LayerChoice([nn.Conv2d(3, 4, 1), nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(3, 4, 5, padding=2)])
        self.a, self.b = nn.Conv2d(3, 4, 1), nn.Conv2d(3, 4, 1)
        self.any2 = InputChoice(2, n_chosen=None)
        self.one2 = InputChoice(2, n_chosen=1)
        self.two3 = InputChoice(3, n_chosen=2)
        self.one3 = InputChoice(3, n_chosen=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        y, a, b = self.op(x), self.a(x), self.b(x)
        s = self.any2([a, b])
        y = (y if s is None else y + s) + self.one2([a, b])
        y = y + self.two3([y, a, b]) + self.one3([a, b, y])
        return self.fc(y.mean((2, 3)))


BASE = {"op": 1, "any2": [], "one2": [1], "two3": [0, 2], "one3": 2}  # NNI 2/3's form: indices


def _read_both(value_for: dict) -> tuple[dict, dict]:
    """The chosen label per key as apply_fixed_architecture reads a JSON, and as ModelSpace.parse reads it."""
    data = {**BASE, **value_for}
    model = apply_fixed_architecture(Inputs(), json.loads(json.dumps(data)))
    fixed = {k: list(getattr(model, k).chosen) for k in ("any2", "one2", "two3", "one3")}
    fixed["op"] = model.op.kernel_size[0]
    space = ModelSpace(Inputs, (1, 3, 8, 8))
    return fixed, space.parse(json.dumps(data)).as_dict()


def _one_line_refusal(value_for: dict, *match: str) -> None:
    data = {**BASE, **value_for}
    for read in (lambda: apply_fixed_architecture(Inputs(), data),
                 lambda: ModelSpace(Inputs, (1, 3, 8, 8)).parse(json.dumps(data))):
        with pytest.raises(ArchError) as info:
            read()
        msg = str(info.value)
        assert "\n" not in msg
        for m in match:
            assert m in msg, msg


# ---- item 4: InputChoice values in every NNI dialect -----------------------------------------------------------------
def test_the_issue_example_keeps_the_skip_connection_as_nni_reads_it():
    """``{"skipcon": [0]}`` on NNI's guide network (InputChoice(1, n_chosen=None)): NNI 1.x's loader and NNI 3.0 read
    a list of integers as input indices, so [0] keeps input 0 (it used to be read as a 0/1 mask: no input). Every
    other form of "keep" and "drop" reads the same in both loaders."""
    for value, kept in (([0], True), ([True], True), ([False], False), ([1.0], True), ([], False), (0, True),
                        ("0", True), (["0"], True), ("none", False), ([1], True)):
        model = apply_fixed_architecture(Net(), {"conv1": 1, "skipcon": value})
        assert model.skipcon.chosen == ((0,) if kept else ()), value
        assert ModelSpace(Net, (1, 1, 28, 28)).parse({"conv1": 1, "skipcon": value}).as_dict()["skipcon"] == \
            ("0" if kept else "none"), value


def test_index_lists_masks_and_names_read_the_same_in_both_loaders():
    # NNI 2/3: a list of input indices (n_chosen=2), a single index (n_chosen=1), an empty list (none chosen)
    fixed, parsed = _read_both({})
    assert fixed == {"any2": [], "one2": [1], "two3": [0, 2], "one3": [2], "op": 3}
    assert parsed == {"op": "1", "any2": "none", "one2": "1", "two3": "0+2", "one3": "2"}
    # a 0/1 list as long as the choice that is also a valid index list: NNI's reading, indices
    for any2 in ([0, 1], [1, 0]):
        fixed, parsed = _read_both({"any2": any2})
        assert fixed["any2"] == [0, 1] and parsed["any2"] == "0+1", any2
    # NNI 1.x's multi-hot: booleans, or floats (its loader takes both when the length matches)
    for two3 in ([True, False, True], [1.0, 0.0, 1.0], ["0", "2"], "0+2", [2, 0]):
        fixed, parsed = _read_both({"two3": two3})
        assert fixed["two3"] == [0, 2] and parsed["two3"] == "0+2", two3
    # a scalar index is an input (NNI 1.x writes one chosen input without brackets), never an option number
    fixed, parsed = _read_both({"any2": 1, "one3": [1]})
    assert fixed["any2"] == [1] and parsed["any2"] == "1" and fixed["one3"] == [1]
    # a 0/1 int list that can only be a mask (an index list would repeat an index) reads as the mask
    fixed, parsed = _read_both({"two3": [1, 0, 1], "one3": [0, 0, 1]})
    assert fixed["two3"] == [0, 2] and fixed["one3"] == [2] and parsed["one3"] == "2"
    # on the LayerChoice a one-hot list of ints that cannot be an index list (it repeats 0) is a mask
    fixed, parsed = _read_both({"op": [0, 0, 1]})
    assert fixed["op"] == 5 and parsed["op"] == "2"
    fixed, parsed = _read_both({"op": [2]})  # NNI 1.x's index list of one
    assert fixed["op"] == 5


def test_ambiguous_and_wrong_values_are_refused_in_one_line_naming_choice_and_value():
    # [0, 1] / [1, 0] on a 1-of-2 choice: two inputs as NNI's index list (no valid choice), or input 1 / input 0 as
    # a 0/1 mask: a mistake or a mask, which cannot be told apart
    _one_line_refusal({"one2": [0, 1]}, "'one2'", "[0, 1]", "ambiguous", "[false, true]")
    _one_line_refusal({"one2": [1, 0]}, "'one2'", "[1, 0]", "ambiguous", "[true, false]")
    _one_line_refusal({"two3": [0, 1, 2]}, "'two3'", "[0, 1, 2]")  # three inputs, n_chosen=2
    _one_line_refusal({"two3": [0, 7]}, "'two3'", "[0, 7]")  # no input 7
    _one_line_refusal({"one3": [0, 1]}, "'one3'", "[0, 1]")  # two indices for n_chosen=1, and no 3-long mask
    _one_line_refusal({"two3": [0.3, 0.7, 0.0]}, "'two3'", "[0.3, 0.7, 0.0]")  # weights are no choice
    _one_line_refusal({"two3": [True, False]}, "'two3'", "[true, false]")  # a mask of the wrong length
    _one_line_refusal({"two3": "x"}, "'two3'", '"x"')
    _one_line_refusal({"op": [True, True, False]}, "'op'", "[true, true, false]")
    _one_line_refusal({"op": [0, 1]}, "'op'", "[0, 1]")  # two candidates
    for read in (lambda d: apply_fixed_architecture(Net(), d), lambda d: ModelSpace(Net, (1, 1, 28, 28)).parse(d)):
        with pytest.raises(ArchError, match=r"'conv1': \[0, 1\] is ambiguous.*\[false, true\]"):
            read({"conv1": [0, 1], "skipcon": [True]})  # two candidates as indices, candidate 1 as a mask
    fixed = apply_fixed_architecture(Inputs(), {**BASE, "two3": torch.tensor([True, False, True])})
    assert fixed.two3.chosen == (0, 2)  # a tensor, as NNI's to_list reads it
    _one_line_refusal({"op": 3}, "'op'", "3")


# ---- item 5: every key written; single-option choices of both kinds treated alike on load --------------------------
class Singles(nn.Module):
    """A real choice beside a one-candidate LayerChoice and a one-option InputChoice."""

    def __init__(self):
        super().__init__()
        self.c = LayerChoice([nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(3, 4, 5, padding=2)])
        self.lone = LayerChoice([nn.ReLU()])
        self.ic = InputChoice(1, n_chosen=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.ic([self.lone(self.c(x))]).mean((2, 3)))


def test_nni_json_holds_every_key_and_single_option_choices_load_alike(tmp_path):
    from hwnas.search.export import NNI_ARCH, ExportedArch, save_exported
    from hwnas.space.model_space import space_from_dict

    space = ModelSpace(Singles, (1, 3, 8, 8))
    arch = space.from_indices([1, 0])
    nni = space.to_nni(arch)
    assert nni == {"c": [False, True], "lone": [True], "ic": [True]}  # NNI writes every key
    # the file search writes: the same, also when the space is read back from the run's record (no user code)
    save_exported(ExportedArch(arch, space, 1.0, None, 1.0, ((0.0, 1.0), (1.0,))), tmp_path / "arch.json")
    assert json.loads((tmp_path / NNI_ARCH).read_text()) == nni
    recorded = space_from_dict(json.loads((tmp_path / "arch.json").read_text())["space"])
    assert recorded.to_nni(arch) == nni and recorded.parse(nni) == arch
    # the full file loads; a file missing either single-option choice loads the same (its only option)
    for data in (nni, {"c": [False, True], "ic": [True]}, {"c": [False, True], "lone": [True]}, {"c": [False, True]}):
        model = apply_fixed_architecture(Singles(), data)
        assert model.c.kernel_size == (5, 5) and isinstance(model.lone, nn.ReLU)
        assert isinstance(model.ic, FixedInputChoice) and model.ic.chosen == (0,)
        assert space.parse(json.dumps(data)) == arch
        assert recorded.parse(data) == arch
    # a single-option choice given a value it does not have is refused, for both kinds
    for bad in ({"lone": [False]}, {"ic": [False]}):
        with pytest.raises(ArchError, match=next(iter(bad))):
            apply_fixed_architecture(Singles(), {"c": [False, True], **bad})
        with pytest.raises(ArchError, match=next(iter(bad))):
            space.parse({"c": [False, True], **bad})


# ---- item 11: NNI 1.x's constructor arguments, ModuleDict, subscripting, named errors --------------------------------
class Nni1(nn.Module):
    """NNI 1.x's guide code with its own arguments, only the import changed."""

    def __init__(self):
        super().__init__()
        self.conv1 = LayerChoice(nn.ModuleDict({"k3": nn.Conv2d(1, 8, 3, padding=1),
                                                "k5": nn.Conv2d(1, 8, 5, padding=2)}),
                                 reduction="sum", return_mask=False, key="conv1")
        self.conv2 = LayerChoice(OrderedDict([("a", nn.Conv2d(8, 8, 1)), ("b", nn.Conv2d(8, 8, 3, padding=1))]),
                                 reduction="mean")
        self.skip = InputChoice(choose_from=["conv1", "conv2"], n_chosen=1, reduction="sum", return_mask=False,
                                key="skip")
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        a = self.conv1(x)
        b = self.conv2(a)
        return self.fc(self.skip({"conv1": a, "conv2": b}).mean((2, 3)))


def test_nni1_arguments_port_by_changing_the_import():
    net = Nni1()
    assert net.conv1.names == ("k3", "k5") and net.skip.n_candidates == 2
    assert net(torch.zeros(1, 1, 8, 8)).shape == (1, 2)  # standalone: first candidate, first input
    assert net.conv1["k5"] is net.conv1.candidates[1] and net.conv1[0] is net.conv1.candidates[0]
    assert net.conv1[-1] is net.conv1.candidates[1] and list(net.conv2) == list(net.conv2.candidates)
    space = ModelSpace(Nni1, (1, 1, 8, 8))
    assert space.decision_names() == ["conv1", "conv2", "skip"]
    # NNI 1.x's human-readable export: candidate names, and choose_from names for the inputs
    data = {"conv1": "k5", "conv2": ["b"], "skip": "conv2"}
    model = apply_fixed_architecture(Nni1(), data)
    assert model.conv1.kernel_size == (5, 5) and model.skip.chosen == (1,)
    assert model(torch.zeros(1, 1, 8, 8)).shape == (1, 2)
    assert space.parse(data).as_dict() == {"conv1": "k5", "conv2": "b", "skip": "1"}
    assert space.parse({"conv1": "k3", "conv2": "a", "skip": ["conv1"]}).as_dict()["skip"] == "0"


def test_nni1_arguments_without_a_clear_meaning_are_refused_naming_the_argument():
    cands = [nn.ReLU(), nn.Tanh()]
    for make, word in ((lambda: LayerChoice(cands, return_mask=True), "return_mask"),
                       (lambda: LayerChoice(cands, reduction="max"), "reduction"),
                       (lambda: InputChoice(2, return_mask=True), "return_mask"),
                       (lambda: InputChoice(3, choose_from=["a", "b"]), "choose_from"),
                       (lambda: InputChoice(choose_from="ab"), "choose_from"),
                       (lambda: InputChoice(), "n_candidates"),
                       (lambda: InputChoice(2, ["a", "b"]), "choose_from")):
        with pytest.raises(UsageError, match=word) as info:
            make()
        assert "\n" not in str(info.value)
    with pytest.raises(UsageError, match=r"'skip'.*'conv9'"):  # a dict input must name choose_from's inputs
        InputChoice(choose_from=["conv1", "conv2"], key="skip")({"conv1": torch.zeros(1), "conv9": torch.zeros(1)})
    with pytest.raises((KeyError, IndexError)):
        LayerChoice(cands)["nope"]


class _CountWrong(nn.Module):
    def __init__(self):
        super().__init__()
        self.skipcon = InputChoice(n_candidates=2)

    def forward(self, x):
        return self.skipcon([x])


def test_the_input_count_error_names_the_choice():
    """Standalone (no key, no search): the error names the attribute, not 'InputChoice None'."""
    with pytest.raises(UsageError, match=r"InputChoice 'skipcon'.*2 candidates.*1 input") as info:
        _CountWrong()(torch.zeros(1, 2))
    assert "None" not in str(info.value)


# ---- round trip with NNI's formats -----------------------------------------------------------------------------------
class SeedExample(nn.Module):
    """Keys as in the NNI 1.x guide's example JSON (``LayerChoice1``: 4 candidates, ``InputChoice2``: 3 inputs)."""

    def __init__(self):
        super().__init__()
        self.lc = LayerChoice([nn.Conv2d(3, 4, k, padding=k // 2) for k in (1, 3, 5, 7)], key="LayerChoice1")
        self.ic = InputChoice(3, n_chosen=None, key="InputChoice2")
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        y = self.lc(x)
        return self.fc(self.ic([y, y * 2, y * 3]).mean((2, 3)))


def test_hwnas_json_is_nni1_apply_fixed_architecture_format(tmp_path):
    """NNI 1.x's guide: "The JSON is simply a mapping from mutable keys to one-hot or multi-hot representation of
    choices", e.g. {"LayerChoice1": [false, true, false, false], "InputChoice2": [true, true, false]}."""
    seed = '{"LayerChoice1": [false, true, false, false], "InputChoice2": [true, true, false]}'
    model = apply_fixed_architecture(SeedExample(), json.loads(seed))
    assert model.lc.kernel_size == (3, 3) and model.ic.chosen == (0, 1)
    space = ModelSpace(SeedExample, (1, 3, 8, 8))
    arch = space.parse(seed)
    assert json.dumps(space.to_nni(arch)) == seed  # written back byte for byte in NNI's own form
    for s in (SeedExample, Net, Singles, Inputs, Nni1):  # every key, lists of booleans, NNI's lengths
        sp = ModelSpace(s, tuple(sp_shape(s)))
        for seed_i in range(4):
            a = sp.sample(seed_i)
            out = sp.to_nni(a)
            chosen = {}
            for path, c in ((p, m) for p, m in s().named_modules() if isinstance(m, (LayerChoice, InputChoice))):
                key = c.key or path
                v = out[key]
                assert all(isinstance(b, bool) for b in v)
                if isinstance(c, LayerChoice):
                    assert len(v) == len(c.names) and sum(v) == 1
                else:
                    assert len(v) == c.n_candidates
                chosen[key] = v
            assert set(out) == set(chosen)
            assert sp.parse(out) == a


def sp_shape(cls) -> tuple[int, ...]:
    return {Net: (1, 1, 28, 28), Nni1: (1, 1, 8, 8)}.get(cls, (1, 3, 8, 8))


NNI_PYTHON = Path(os.environ.get("HWNAS_NNI_PYTHON", "/work/nni-venv/bin/python"))


class Nni3Twin(nn.Module):
    """The choices of ``tests/nni3_fixed_arch.py``'s NNI 3.0 model space, under the same keys."""

    def __init__(self):
        super().__init__()
        self.lc = LayerChoice([nn.Conv2d(3, 4, k, padding=k // 2) for k in (1, 3, 5, 7)], key="LayerChoice1")
        self.act = LayerChoice(OrderedDict([("relu", nn.ReLU()), ("tanh", nn.Tanh())]), key="act")
        self.ic = InputChoice(3, n_chosen=None, key="InputChoice2")
        self.skip = InputChoice(1, n_chosen=None, key="skip")
        self.one = InputChoice(1, n_chosen=1, key="one")
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        y = self.act(self.lc(x))
        z = self.ic([y, y * 2, y * 3])
        s = self.skip([y])
        return self.fc((z if s is None else z + s).mean((2, 3)) + self.one([y]).mean((2, 3)))


@pytest.mark.slow
@pytest.mark.skipif(not NNI_PYTHON.exists(), reason="no NNI 3.0 venv (HWNAS_NNI_PYTHON)")
def test_nni3_loads_hwnas_nni3_json_and_not_the_nni1_one(tmp_path):
    """NNI 3.0 has no ``apply_fixed_architecture``; its fixed-architecture loaders (``model_context``,
    ``ModelSpace.freeze``) take a sample of label -> candidate name / list of input indices. hwnas's
    ``nni3_arch.json`` loads there to the same network; NNI 1.x's one-hot file (``nni_arch.json``) does not (NNI 3.0
    refuses the LayerChoice's list), and NNI 3.0 reads an InputChoice's booleans as indices: [false] keeps input 0.
    Both files load back in hwnas to the same architecture."""
    from hwnas.search.export import NNI3_ARCH, NNI_ARCH, ExportedArch, save_exported

    space = ModelSpace(Nni3Twin, (1, 3, 8, 8))
    arch = space.parse("LayerChoice1=1;act=tanh;InputChoice2=0+2;skip=none")
    save_exported(ExportedArch(arch, space, 1.0, None, 1.0, tuple((1.0,) * len(lab) for lab in
                                                                   space.choice_labels())), tmp_path / "arch.json")
    masks_only = {**json.loads((tmp_path / NNI3_ARCH).read_text()), "skip": [False]}
    (tmp_path / "inputs_as_masks.json").write_text(json.dumps(masks_only))
    (tmp_path / "arch.json").unlink()
    out = subprocess.run([str(NNI_PYTHON), str(ROOT / "tests" / "nni3_fixed_arch.py"), str(tmp_path)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    want = {"kernel": 3, "act": "Tanh", "inputs": [0, 2], "skip": [], "one": [0]}
    assert seen["nni"] == "3.0"
    assert seen[NNI3_ARCH] == {"model_context": want, "freeze": want}
    assert all("error" in r and "not found in [0, 1, 2, 3]" in r["error"] for r in seen[NNI_ARCH].values())
    assert seen["inputs_as_masks.json"]["freeze"]["skip"] == [0]  # NNI 3.0's reading of [false]: input 0
    for name in (NNI_ARCH, NNI3_ARCH, "inputs_as_masks.json"):  # hwnas reads every form the same
        assert space.parse((tmp_path / name).read_text()) == arch, name
