"""The optional extras (`pip install 'embedlab[serve]'` ...) and the one-line error a feature gives without its own.

Encoding, training and evaluation need only the core install. The server, the FAISS and Milvus stores, ONNX
Runtime and Ray are extras: each feature calls `require` where it starts, before anything imports the package.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from embedlab.errors import EmbedlabError

# Which extra installs each optional module, and the pip name a user would recognise it by.
EXTRAS = {
    "fastapi": ("serve", "fastapi"),
    "uvicorn": ("serve", "uvicorn"),
    "faiss": ("index", "faiss-cpu"),
    "pymilvus": ("index", "pymilvus"),
    "milvus_lite": ("index", "milvus-lite"),
    "onnx": ("onnx", "onnx"),
    "onnxruntime": ("onnx", "onnxruntime"),
    "openvino": ("openvino", "openvino"),
    "nncf": ("openvino", "nncf"),
    "ray": ("ray", "ray"),
}


class MissingExtra(EmbedlabError, ImportError):
    """An optional package a feature needs is not installed; the message names the pip command."""


def require(module: str, feature: str) -> ModuleType:
    """Import `module` (dotted names allowed, e.g. "ray.serve") for `feature`, or raise a one-line MissingExtra."""
    extra, package = EXTRAS[module.partition(".")[0]]
    try:
        return importlib.import_module(module)
    except ImportError as err:
        missing = err.name is not None and (module == err.name or module.startswith(err.name + "."))
        reason = "which is not installed" if missing else f"which failed to import ({err})"
        raise MissingExtra(f"{feature} needs {package}, {reason}: pip install 'embedlab[{extra}]'") from None


def installed(module: str) -> bool:
    """Whether the optional top-level `module` can be found, without importing it (some take seconds)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: a module set to None in sys.modules, as tests do
        return False
