"""A second device on a CPU-only machine: every tensor is either *placed* (it went through ``.to(device)``, was made
with an explicit ``device=``, or was computed from placed tensors) or *host* (made on the CPU and never sent).

``DeviceTaint`` is a ``TorchFunctionMode``: it sees every torch function and tensor method a run calls, carries
the mark from inputs to outputs, and raises ``Misplaced`` where a GPU would raise "Expected all tensors to be on
the same device": an operation that mixes placed tensors with host tensors of one element or more dimensions.
What CUDA allows is allowed here too: 0-dim host tensors beside placed ones, host indices into a placed tensor,
copies between devices. ``.cpu()`` and ``.numpy()`` of a placed tensor leave the device, as they would.

It is stricter than the forward-hook spy in ``test_placement.py``: it also sees the tensors an optimizer, a
latency term, a Gumbel sample or a controller makes inside the step, not only a network's inputs and weights.
"""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

_MARK = "_hwnas_on_device"


class Misplaced(AssertionError):
    pass


def _mark(t) -> None:
    if isinstance(t, torch.Tensor):
        try:
            setattr(t, _MARK, True)
        except (AttributeError, RuntimeError):  # pragma: no cover - a tensor type that takes no attributes
            pass


def placed(t: torch.Tensor) -> bool:
    if getattr(t, _MARK, False):
        return True
    base = t._base  # a view of a placed tensor (``Parameter(t)`` shares t's storage, ``.data`` is a view)
    return base is not None and getattr(base, _MARK, False)


_LEAVE = {torch.Tensor.cpu, torch.Tensor.numpy, torch.Tensor.__array__}
_CROSS = {torch.Tensor.copy_, torch.Tensor.to, torch.Tensor.cuda, torch.Tensor.type_as,
          torch.Tensor.pin_memory, torch.Tensor.is_pinned}
_INDEX_FIRST = {torch.Tensor.__getitem__, torch.Tensor.__setitem__}
_DEVICE = torch.Tensor.device  # its ``__get__``: a host tensor's ``.device`` is remembered as the host's


class DeviceTaint(TorchFunctionMode):
    """Run a CPU search as if ``device`` were a second device; ``checked`` counts the operations on placed data."""

    def __init__(self) -> None:
        super().__init__()
        self.checked = 0
        self._new = None
        self._host_devices: list[torch.device] = []  # the objects, kept alive so that their ids stay theirs

    def _host(self, device) -> bool:
        return any(device is d for d in self._host_devices)

    def __enter__(self):
        # ``nn.Parameter(t)`` makes a new tensor object outside torch functions: it is placed where t is
        self._new = torch.nn.Parameter.__dict__["__new__"]
        real_new = torch.nn.Parameter.__new__

        def new(cls, data=None, requires_grad=True):
            p = real_new(cls, data, requires_grad)
            if data is not None and placed(data):
                _mark(p)
            return p

        torch.nn.Parameter.__new__ = staticmethod(new)
        return super().__enter__()

    def __exit__(self, *exc):
        torch.nn.Parameter.__new__ = self._new
        return super().__exit__(*exc)

    def _names_a_device(self, args, kwargs) -> bool:
        """Whether ``.to(...)`` sends its tensor to the run's device (not back to where a host tensor is)."""
        if kwargs.get("device") is not None:
            return not self._host(kwargs["device"])
        for a in args:
            if isinstance(a, (str, torch.device)):
                return not self._host(a)
            if isinstance(a, torch.Tensor):  # .to(other): placed if other is
                return placed(a)
        return False

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func in _LEAVE:
            return out
        if getattr(func, "__self__", None) is _DEVICE:
            if placed(args[0]):
                return out
            self._host_devices.append(torch.device(out.type, out.index))  # code making tensors "where x is"
            return self._host_devices[-1]
        if func is torch.Tensor.to or func is torch.Tensor.cuda:
            if self._names_a_device(args[1:], kwargs) or func is torch.Tensor.cuda:
                tree_map_mark(out)
            elif isinstance(args[0], torch.Tensor) and placed(args[0]):
                tree_map_mark(out)  # a dtype change stays where it was
            return out
        if func in _CROSS:
            if isinstance(args[0], torch.Tensor) and placed(args[0]):
                tree_map_mark(out)
            return out
        tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        if func in _INDEX_FIRST:  # host indices into a placed tensor are fine; a value must still match
            tensors = [args[0], *[t for t in tree_flatten(args[2:])[0] if isinstance(t, torch.Tensor)]]
        on = [t for t in tensors if placed(t)]
        if kwargs.get("device") is not None:
            if not self._host(kwargs["device"]):
                tree_map_mark(out)
        elif on:
            host = [t for t in tensors if not placed(t) and t.dim() > 0]
            if host:
                shapes = ", ".join(str(tuple(t.shape)) for t in host[:3])
                raise Misplaced(f"{getattr(func, '__qualname__', func)} mixes tensors on the run's device with "
                                f"host tensors of shape {shapes} (a GPU run would stop here)")
            self.checked += 1
            tree_map_mark(out)
        return out


def tree_map_mark(out) -> None:
    for t in tree_flatten(out)[0]:
        _mark(t)
