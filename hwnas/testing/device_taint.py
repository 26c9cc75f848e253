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
_CROSS = {torch.Tensor.copy_, torch.Tensor.pin_memory, torch.Tensor.is_pinned}
_META = {torch._has_compatible_shallow_copy_type}  # compares tensor types, computes nothing (Module._apply)
_INDEX_FIRST = {torch.Tensor.__getitem__, torch.Tensor.__setitem__}
_DATA = torch.Tensor.data  # its ``__set__``: assigning ``.data`` moves a tensor
_DEVICE = torch.Tensor.device  # its ``__get__``: a host tensor's ``.device`` is remembered as the host's


class DeviceTaint(TorchFunctionMode):
    """Run a CPU search as if ``device`` were a second device; ``checked`` counts the operations on placed data."""

    def __init__(self) -> None:
        super().__init__()
        self.checked = 0
        self._new = None
        self._host_device = torch.device("cpu")  # what a host tensor's ``.device`` gives: this very object

    def _host(self, device) -> bool:
        return device is self._host_device

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
        try:
            return super().__enter__()
        except BaseException:
            torch.nn.Parameter.__new__ = self._new
            raise

    def __exit__(self, *exc):
        torch.nn.Parameter.__new__ = self._new
        return super().__exit__(*exc)

    def _named_device(self, args, kwargs) -> str | None:
        """Where ``.to(...)`` sends its tensor: ``"device"`` (the run's), ``"host"`` (where a host tensor is), or
        None (no device named: a dtype or memory-format change)."""
        target = kwargs.get("device")
        if target is None:
            for a in args:
                if isinstance(a, (str, torch.device)):
                    target = a
                    break
                if isinstance(a, torch.Tensor):  # .to(other): where other is
                    return "device" if placed(a) else "host"
        if target is None:
            return None
        return "host" if self._host(target) else "device"

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func in _META:
            return out
        if getattr(func, "__self__", None) is _DATA and getattr(func, "__name__", "") == "__set__":
            # ``p.data = t`` moves p to wherever t is (Module.cpu(), Module.to() on older torch)
            if placed(args[1]):
                _mark(args[0])
            elif getattr(args[0], _MARK, False):
                delattr(args[0], _MARK)
            return out
        if func in _LEAVE:  # back on the host: on this CPU ``.cpu()`` may hand back the placed tensor itself
            return _unmarked(out, args)
        if getattr(func, "__self__", None) is _DEVICE:
            return out if placed(args[0]) else self._host_device  # code making tensors "where x is" stays host
        if func is torch.Tensor.to or func is torch.Tensor.cuda:
            named = self._named_device(args[1:], kwargs)
            if func is torch.Tensor.cuda or named == "device":
                tree_map_mark(out)
            elif named == "host":
                return _unmarked(out, args)
            elif isinstance(args[0], torch.Tensor) and placed(args[0]):
                tree_map_mark(out)  # a dtype change stays where it was
            return out
        if func is torch.Tensor.type_as:  # goes where the other tensor is (a new tensor on a GPU, never self)
            if placed(args[1]):
                out = out.clone() if out is args[0] and not placed(out) else out
                tree_map_mark(out)
                return out
            return _unmarked(out, args)
        if func in _CROSS:
            if isinstance(args[0], torch.Tensor) and placed(args[0]):
                tree_map_mark(out)
            return out
        tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        if func in _INDEX_FIRST:  # host indices into a placed tensor are fine; a value must still match
            index = [t for t in tree_flatten(args[1])[0] if isinstance(t, torch.Tensor)]
            if not placed(args[0]) and args[0].dim() > 0 and any(placed(t) for t in index):
                raise Misplaced(f"{getattr(func, '__qualname__', func)} indexes a host tensor of shape "
                                f"{tuple(args[0].shape)} with indices on the run's device (a GPU run would stop here)")
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


def _unmarked(out, args):
    """``out`` as a host tensor: a copy where the op handed back its placed input itself (a no-op move)."""
    if isinstance(out, torch.Tensor) and args and out is args[0] and placed(out):
        return out.clone()
    return out


def tree_map_mark(out) -> None:
    for t in tree_flatten(out)[0]:
        _mark(t)
