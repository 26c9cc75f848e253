"""Run with NNI 3.0's Python (not hwnas's): load architecture JSON files with NNI 3.0's own fixed-architecture
loaders (``nni.nas.space.model_context`` while the model space is built, and ``ModelSpace.freeze``) on the twin of
``tests/test_nni_interop.py``'s ``Nni3Twin`` (the same choices under the same labels), and print, as one JSON line,
what each file gave: the chosen kernel, activation and inputs, or NNI's error.

    /work/nni-venv/bin/python tests/nni3_fixed_arch.py DIR     # every DIR/*.json
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

import nni.nas.nn.pytorch as nn  # noqa: E402
import torch  # noqa: E402
from nni.nas.space import model_context  # noqa: E402


class Twin(nn.ModelSpace):
    def __init__(self):
        super().__init__()
        self.lc = nn.LayerChoice([torch.nn.Conv2d(3, 4, k, padding=k // 2) for k in (1, 3, 5, 7)],
                                 label="LayerChoice1")
        self.act = nn.LayerChoice({"relu": torch.nn.ReLU(), "tanh": torch.nn.Tanh()}, label="act")
        self.ic = nn.InputChoice(3, n_chosen=None, label="InputChoice2")
        self.skip = nn.InputChoice(1, n_chosen=None, label="skip")
        self.one = nn.InputChoice(1, n_chosen=1, label="one")


def what(m) -> dict:
    return {"kernel": m.lc.kernel_size[0], "act": type(m.act).__name__,
            "inputs": [int(i) for i in m.ic.chosen], "skip": [int(i) for i in m.skip.chosen],
            "one": [int(i) for i in m.one.chosen]}


def load(sample: dict) -> dict:
    out = {}
    for how in ("model_context", "freeze"):
        try:
            if how == "model_context":
                with model_context(sample):
                    m = Twin()
            else:
                m = Twin().freeze(sample)
            out[how] = what(m)
        except Exception as exc:  # noqa: BLE001 - recorded: what NNI 3.0 says
            out[how] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"}
    return out


if __name__ == "__main__":
    import nni

    res = {"nni": nni.__version__}
    for f in sorted(Path(sys.argv[1]).glob("*.json")):
        res[f.name] = load(json.loads(f.read_text()))
    print(json.dumps(res))
