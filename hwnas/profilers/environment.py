"""What machine a measurement was taken on."""

from __future__ import annotations

import datetime as _dt
import os
import platform
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_model() -> str | None:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return None


def environment(device: str = "cpu") -> dict[str, Any]:
    import torch

    gpu = gpu_model() if device.startswith("cuda") else None
    return {
        "device_model": gpu or cpu_model(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpu_model": gpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


GPU_QUERY = ("clocks.sm", "clocks.mem", "clocks.max.sm", "power.draw", "power.limit", "pstate", "temperature.gpu",
             "clocks_event_reasons.active")


def gpu_state(device: str = "cuda", *, run: Any = None) -> dict[str, Any]:
    """The GPU's clocks (MHz), power (W), performance state and temperature now, from ``nvidia-smi`` (an empty
    dict where it is missing or fails: the state is a record, not a requirement). ``run`` replaces
    ``subprocess.run`` (tests)."""
    import subprocess

    index = device.split(":", 1)[1] if ":" in device else "0"
    cmd = ["nvidia-smi", f"--query-gpu={','.join(GPU_QUERY)}", "--format=csv,noheader,nounits", "-i", index]
    try:
        out = (run or subprocess.run)(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return {}
    if getattr(out, "returncode", 1) != 0 or not out.stdout.strip():
        return {}
    values = [v.strip() for v in out.stdout.strip().splitlines()[0].split(",")]
    state: dict[str, Any] = {}
    for key, v in zip(GPU_QUERY, values, strict=False):
        try:
            state[key] = float(v)
        except ValueError:
            state[key] = v
    state["date"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return state
