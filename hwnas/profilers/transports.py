"""How the remote backend reaches a device: push a file, run a shell command there, read its output.

``adb`` (Android, by serial), ``ssh`` (any Linux board, by host), ``local`` (this machine; for tests and for
running a benchmark binary built here). Every failure of the link itself raises :class:`DeviceError` naming the
device, so a profile run stops with a clear message and keeps its finished rows.
"""

from __future__ import annotations

import shlex
import subprocess
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from ..errors import UsageError
from ..io import atomic_write
from .base import DeviceError
from .environment import cpu_model


class Transport(ABC):
    kind: ClassVar[str]

    def __init__(self, *, workdir: str | None = None, timeout_s: float = 300.0):
        if workdir is not None and (not str(workdir).strip() or "\n" in str(workdir) or "\0" in str(workdir)):
            raise UsageError(f"remote backend: workdir={workdir!r} is not a directory path")
        self.workdir = str(workdir) if workdir else self.default_workdir()
        try:
            self.timeout_s = float(timeout_s)
        except (TypeError, ValueError):
            raise UsageError(f"remote backend: timeout_s={timeout_s!r} is not a number of seconds") from None
        if not 0 < self.timeout_s < float("inf"):
            raise UsageError(f"remote backend: timeout_s must be a positive number of seconds, not {timeout_s!r}")

    @property
    @abstractmethod
    def name(self) -> str:
        """How the device is named in messages and metadata, e.g. ``adb:R58M123``."""

    def default_workdir(self) -> str:
        return "/tmp/hwnas"

    @abstractmethod
    def _run(self, argv: list[str], *, input: bytes | None = None, timeout: float | None = None
             ) -> tuple[int, str]:
        """Run a host-side command (``adb ...``, ``ssh ...``) and return (exit status, stdout+stderr)."""

    @abstractmethod
    def push(self, data: bytes, filename: str) -> str:
        """Copy ``data`` to ``<workdir>/<filename>`` on the device; return that path."""

    @abstractmethod
    def shell(self, command: str, timeout: float | None = None) -> tuple[int, str]:
        """Run ``command`` with the device's ``sh``; return (its exit status, its output)."""

    def remove(self, path: str) -> None:
        try:
            self.shell(f"rm -f {shlex.quote(path)}", timeout=30)
        except DeviceError:
            pass

    def device_model(self) -> str:
        return self.name

    def _exec(self, argv: list[str], *, input: bytes | None = None, timeout: float | None = None
              ) -> tuple[int, str]:
        try:
            proc = subprocess.run(argv, input=input, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  timeout=timeout or self.timeout_s, check=False)
        except FileNotFoundError:
            raise DeviceError(f"{self.name}: {argv[0]!r} is not installed or not on PATH", self.name) from None
        except subprocess.TimeoutExpired:
            raise DeviceError(f"{self.name}: no answer within {timeout or self.timeout_s:.0f} s "
                              f"({shlex.join(argv[:3])} ...); is the device still there?", self.name) from None
        return proc.returncode, proc.stdout.decode(errors="replace")


class LocalTransport(Transport):
    """This machine: the 'device' is a scratch directory and ``sh``."""

    kind = "local"

    def __init__(self, **kw: Any):
        super().__init__(**kw)
        try:
            Path(self.workdir).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"local transport: cannot make the working directory {self.workdir} "
                             f"({exc.strerror or exc})") from None

    @property
    def name(self) -> str:
        return "local"

    def default_workdir(self) -> str:
        return tempfile.mkdtemp(prefix="hwnas-remote-")

    def _run(self, argv, *, input=None, timeout=None):
        return self._exec(argv, input=input, timeout=timeout)

    def push(self, data: bytes, filename: str) -> str:
        path = Path(self.workdir) / filename
        if not Path(self.workdir).is_dir():
            raise DeviceError(f"{self.name}: working directory {self.workdir} is gone", self.name)
        atomic_write(path, lambda fh: fh.write(data), mode="wb")
        return str(path)

    def shell(self, command, timeout=None):
        return self._run(["sh", "-c", command], timeout=timeout)

    def device_model(self) -> str:
        return cpu_model()


# adb prints these when the phone is unplugged, rebooting or unauthorised (its own exit status is then 1)
_ADB_GONE = ("device not found", "no devices/emulators found", "device offline", "device unauthorized",
             "error: closed", "protocol fault", "failed to connect", "cannot connect")


class AdbTransport(Transport):
    """An Android device over ``adb`` (``serial`` from ``adb devices``; needed when several are attached)."""

    kind = "adb"

    def __init__(self, *, serial: str | None = None, adb: str = "adb", **kw: Any):
        if serial is not None and (str(serial).startswith("-") or not str(serial).strip()):
            raise UsageError(f"adb transport: serial={serial!r} is not a device serial (see 'adb devices')")
        self.serial, self.adb = None if serial is None else str(serial), adb
        super().__init__(**kw)

    @property
    def name(self) -> str:
        return f"adb:{self.serial or 'default'}"

    def default_workdir(self) -> str:
        return "/data/local/tmp/hwnas"

    def _argv(self, *args: str) -> list[str]:
        return [self.adb, *(["-s", self.serial] if self.serial else []), *args]

    def _run(self, argv, *, input=None, timeout=None):
        rc, out = self._exec(argv, input=input, timeout=timeout)
        low = out.lower()
        if rc != 0 and (any(s in low for s in _ADB_GONE) or ("device '" in low and "' not found" in low)):
            raise DeviceError(f"{self.name}: the device is not reachable any more ({out.strip()[-200:]}); "
                              f"check 'adb devices', then run the same command again to resume", self.name)
        return rc, out

    def push(self, data: bytes, filename: str) -> str:
        remote = f"{self.workdir}/{filename}"
        with tempfile.TemporaryDirectory() as d:
            local = Path(d) / filename
            local.write_bytes(data)
            self.shell(f"mkdir -p {shlex.quote(self.workdir)}", timeout=60)
            rc, out = self._run(self._argv("push", str(local), remote))
        if rc != 0:
            raise DeviceError(f"{self.name}: adb push to {remote} failed: {out.strip()[-300:]}", self.name)
        return remote

    def shell(self, command, timeout=None):
        return self._run(self._argv("shell", command), timeout=timeout)

    def device_model(self) -> str:
        rc, out = self.shell("getprop ro.product.manufacturer; getprop ro.product.model; getprop ro.soc.model",
                             timeout=60)
        parts = [p.strip() for p in out.splitlines() if p.strip()] if rc == 0 else []
        return " ".join(parts) or self.name


class SshTransport(Transport):
    """A Linux board over ``ssh`` (key-based login; ``BatchMode`` so a password prompt fails instead of hanging)."""

    kind = "ssh"

    def __init__(self, *, host: str, port: int | None = None, ssh: str = "ssh", ssh_opts: str = "", **kw: Any):
        if not host:
            raise UsageError("the ssh transport needs host=USER@HOST")
        host = str(host)
        if host.startswith("-") or any(c.isspace() for c in host):
            raise UsageError(f"ssh transport: host={host!r} is not USER@HOST (no leading '-', no spaces)")
        if port is not None:
            try:
                port = int(str(port))
            except ValueError:
                raise UsageError(f"ssh transport: port={port!r} is not a number") from None
        try:
            shlex.split(ssh_opts or "")
        except ValueError as exc:
            raise UsageError(f"ssh transport: ssh_opts={ssh_opts!r} cannot be split into arguments ({exc})") from None
        self.host, self.port, self.ssh, self.ssh_opts = host, port, ssh, ssh_opts
        super().__init__(**kw)

    @property
    def name(self) -> str:
        return f"ssh:{self.host}"

    def _argv(self, command: str) -> list[str]:
        # "--" ends ssh's options: the host can never be read as one
        return [self.ssh, "-o", "BatchMode=yes", "-o", "ConnectTimeout=15",
                *(["-p", str(self.port)] if self.port else []), *shlex.split(self.ssh_opts or ""), "--", self.host,
                command]

    def _run(self, argv, *, input=None, timeout=None):
        rc, out = self._exec(argv, input=input, timeout=timeout)
        if rc == 255:  # ssh's own failure (connection refused, reset, host down); the remote command never says 255
            raise DeviceError(f"{self.name}: ssh failed ({out.strip()[-200:]}); check the connection, then run "
                              f"the same command again to resume", self.name)
        return rc, out

    def push(self, data: bytes, filename: str) -> str:
        remote = f"{self.workdir}/{filename}"
        q = shlex.quote
        rc, out = self._run(self._argv(f"mkdir -p {q(self.workdir)} && cat > {q(remote)}.part && "
                                       f"mv {q(remote)}.part {q(remote)}"), input=data)
        if rc != 0:
            raise DeviceError(f"{self.name}: copying to {remote} failed: {out.strip()[-300:]}", self.name)
        return remote

    def shell(self, command, timeout=None):
        return self._run(self._argv(command), timeout=timeout)

    def device_model(self) -> str:
        rc, out = self.shell("grep -m1 -i -E '^(model name|hardware|cpu model)' /proc/cpuinfo | cut -d: -f2; "
                             "cat /proc/device-tree/model 2>/dev/null; echo; uname -m", timeout=60)
        parts = [p.strip().strip("\x00") for p in out.splitlines() if p.strip().strip("\x00")] if rc == 0 else []
        return " ".join(parts) or self.name


TRANSPORTS: dict[str, Callable[..., Transport]] = {
    "local": LocalTransport, "adb": AdbTransport, "ssh": SshTransport,
}


def create_transport(kind: str, **kw: Any) -> Transport:
    if kind not in TRANSPORTS:
        raise UsageError(f"unknown transport {kind!r}; available: {', '.join(sorted(TRANSPORTS))}")
    return TRANSPORTS[kind](**{k: v for k, v in kw.items() if v is not None})

