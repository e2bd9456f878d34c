"""Old import paths keep working after modules moved into subpackages (`embedlab.encoder`, `embedlab.bulk`, ...).

A meta-path finder maps each old module name to its new home and imports that instead, so both names give
the very same module object; nothing is imported until someone asks for the old name.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from importlib.machinery import ModuleSpec
from types import ModuleType

MOVED = {
    "embedlab.encoder": "embedlab.models.encoder",
    "embedlab.pooling": "embedlab.models.pooling",
    "embedlab.st_format": "embedlab.models.st_format",
    "embedlab.checkpoints": "embedlab.models.model_files",
    "embedlab.static": "embedlab.models.static_encoder",
    "embedlab.wordpiece_cache": "embedlab.models.wordpiece_cache",
    "embedlab.two_tower": "embedlab.models.two_tower",
    "embedlab.cross_encoder": "embedlab.models.cross_encoder",
    "embedlab.loading": "embedlab.models.loading",
    "embedlab.model_names": "embedlab.models.names",
    "embedlab.fingerprint": "embedlab.models.fingerprint",
    "embedlab.distill": "embedlab.models.distill",
    "embedlab.bulk": "embedlab.scale.bulk",
    "embedlab.ray_encode": "embedlab.scale.ray_encode",
    "embedlab.ray_cluster": "embedlab.scale.ray_cluster",
    "embedlab.fusion": "embedlab.rank_fusion",
    "embedlab.diagnostics": "embedlab.evaluation.diagnostics",
    "embedlab.diagnostic_plots": "embedlab.evaluation.diagnostic_plots",
}


class _MovedModuleLoader(importlib.abc.Loader):
    def create_module(self, spec: ModuleSpec) -> ModuleType:
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module: ModuleType) -> None:
        """The new module is already executed; importing it under its old name must not run it twice."""


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds the old name of a moved module and hands back the module at its new path."""

    def find_spec(self, fullname: str, path=None, target=None) -> ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, _MovedModuleLoader())


def install() -> None:
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
