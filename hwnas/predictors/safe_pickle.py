"""Loading a predictor file without running code from it.

A ``.joblib`` file is a pickle, and unpickling calls whatever functions the file names: a crafted file can run
``os.system`` the moment it is loaded. :func:`safe_load` reads the joblib stream with an unpickler whose
``find_class`` (https://docs.python.org/3/library/pickle.html#restricting-globals) only hands out what a saved hwnas
predictor is made of: hwnas's own predictor, table and space classes, scikit-learn estimators, NumPy / SciPy /
pandas data types, and the handful of functions those use to rebuild arrays and frames. Anything else (``os``,
``subprocess``, ``builtins.eval``, ``numpy.memmap`` which writes files, pandas' file writers, ...) is refused before
it is called, so nothing from the file executes.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from ..errors import UsageError


class UnsafePickleError(UsageError):
    """A predictor file asks for a function or class a saved hwnas predictor never contains."""


# functions (not classes) that rebuild arrays, frames and generators; looked up exactly
_FUNCTIONS = {
    ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"), ("numpy.core.numeric", "_frombuffer"),
    ("numpy.random._pickle", "__bit_generator_ctor"), ("numpy.random._pickle", "__randomstate_ctor"),
    ("numpy.random._pickle", "__generator_ctor"),
    ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"), ("pandas._libs.internals", "_unpickle_block"),
    ("pandas.core.indexes.base", "_new_Index"), ("pandas._libs.tslibs.timestamps", "_unpickle_timestamp"),
    ("pandas._libs.tslibs.timedeltas", "_timedelta_unpickle"),
    ("copyreg", "_reconstructor"), ("_codecs", "encode"),
}
_BUILTINS = {"object", "slice", "set", "frozenset", "complex", "range", "bytearray", "bytes", "str", "int",
             "float", "bool", "tuple", "list", "dict"}
_EXACT_CLASSES = {("collections", "OrderedDict"), ("collections", "deque"), ("datetime", "datetime"),
                  ("datetime", "date"), ("datetime", "timedelta"), ("datetime", "timezone"),
                  ("torch.torch_version", "TorchVersion"), ("joblib.numpy_pickle", "NumpyArrayWrapper"),
                  ("joblib.numpy_pickle_compat", "NDArrayWrapper")}
# classes whose defining module (``cls.__module__``) is one of these or below one of them
_CLASS_MODULES = ("hwnas.predictors", "hwnas.space", "hwnas.profilers.table", "hwnas.profilers.records",
                  "hwnas.profilers.protocol", "sklearn", "numpy", "numpy.dtypes", "numpy._core", "numpy.core",
                  "numpy.random", "numpy.ma", "scipy.sparse", "pandas", "pandas.core", "pandas._libs",
                  "pandas.arrays")
# ... except these: they read or write files, or exist for tests
_DENIED = ("numpy.memmap", "pandas.ExcelFile", "pandas.ExcelWriter", "pandas.HDFStore", "sklearn.utils._testing",
           "sklearn.datasets", "sklearn.externals")


def _below(module: str, roots: tuple[str, ...]) -> bool:
    return any(module == r or module.startswith(r + ".") for r in roots)


def _refuse(module: str, name: str, path: str | Path) -> UnsafePickleError:
    return UnsafePickleError(
        f"refused to load {path}: it asks for {module}.{name}, which a saved hwnas predictor never contains, so the "
        "file is damaged or crafted to run code; nothing from it was executed. Load only predictor files you made "
        "or trust")


def allowed(module: str, name: str) -> Any:
    """The object the pickle may use for ``module.name``, or ``None`` when it is not on the allow-list."""
    if "." in name or not name.isidentifier():
        return None  # dotted names reach attributes of attributes (a class's methods)
    if (module, name) in _FUNCTIONS or (module == "builtins" and name in _BUILTINS) or (module, name) in _EXACT_CLASSES:
        return getattr(importlib.import_module(module), name)
    if not module.startswith(("hwnas.", "sklearn", "numpy", "scipy", "pandas")):
        return None  # never import an arbitrary module the file names
    try:
        obj = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None
    if not isinstance(obj, type):
        return None
    qual = f"{obj.__module__}.{obj.__qualname__}"
    if not _below(obj.__module__, _CLASS_MODULES) or _below(qual, _DENIED) or _below(f"{module}.{name}", _DENIED) \
            or ".tests." in qual or ".io." in f"{qual}." or "testing" in qual:
        return None
    import numpy as np

    if issubclass(obj, np.memmap):
        return None
    return obj


# what a joblib file starts with: a pickle (protocol 2+) or one of joblib's compressors
_MAGIC = (b"\x80", b"\x78", b"ZF", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x5d\x00\x00", b"\x04\x22\x4d\x18")


def safe_load(path: str | Path) -> Any:
    """Unpickle a joblib file, refusing (with :class:`UnsafePickleError`) any global not on the allow-list."""
    from joblib.numpy_pickle import NumpyUnpickler, _validate_fileobject_and_memmap

    path = Path(path)

    class _Restricted(NumpyUnpickler):
        def find_class(self, module: str, name: str) -> Any:
            obj = allowed(module, name)
            if obj is None:
                raise _refuse(module, name, path)
            return obj

    with open(path, "rb") as fh:
        head = fh.read(8)
        if not head.startswith(_MAGIC):
            raise UsageError(f"predictor file {path} is corrupt or not a joblib file (it does not start like one)")
        fh.seek(0)
        with _validate_fileobject_and_memmap(fh, str(path), None) as (fobj, _):
            if isinstance(fobj, str):  # joblib < 0.10 files keep arrays in companion files
                raise UsageError(f"{path} was written by a joblib older than 0.10, which hwnas cannot read safely")
            return _Restricted(str(path), fobj, True).load()
