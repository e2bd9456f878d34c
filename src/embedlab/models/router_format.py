"""sentence-transformers' Router directory (v5+): one model whose query and document routes run their own modules.

modules.json lists a single Router module at the root (optionally followed by modules every route shares, such
as Normalize); router_config.json names each module directory ("types": id -> class path) and which route runs
which modules, in order ("structure": route -> [id, ...]). A route is then a module list like modules.json's,
read by st_format.layout_of_modules, so a two-tower model and its sentence-transformers form are one format.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from embedlab.atomic import write_json
from embedlab.errors import ModelLoadError
from embedlab.models.st_format import first_module_kind, module_kind, read_json, read_modules

ROUTER_TYPE = "sentence_transformers.base.modules.router.Router"
ROUTER_CONFIG = "router_config.json"
ROUTES = ("query", "document")
# Files that describe a whole sentence-transformers model rather than its Transformer module.
MODEL_FILES = ("modules.json", "config_sentence_transformers.json", "README.md")


def is_router_dir(path: Path) -> bool:
    """Whether modules.json starts with a Router module (a cheap look, errors are left to read_routes)."""
    return first_module_kind(path) == "router"


def read_routes(root: Path) -> dict[str, list[tuple[str, Path]]]:
    """Each route's (kind, directory) modules, in order, the modules after the Router appended to both.

    Only query and document routes are read: they are what a two-tower model is (a modality router is not).
    """
    modules = read_modules(root)
    if not modules or modules[0][0] != "router" or any(kind == "router" for kind, _ in modules[1:]):
        raise ModelLoadError(f"{root / 'modules.json'} must list one Router module, first")
    # sentence-transformers' older Routers wrote their config to config.json; it still reads that, so do we.
    source = root / ROUTER_CONFIG if (root / ROUTER_CONFIG).is_file() else root / "config.json"
    config = read_json(source)
    types, structure = (config.get("types"), config.get("structure")) if isinstance(config, dict) else (None, None)
    if not isinstance(types, dict) or not isinstance(structure, dict):
        raise ModelLoadError(f"{source} must hold 'types' and 'structure' objects")
    if set(structure) != set(ROUTES):
        raise ModelLoadError(
            f"{source} has routes {sorted(structure)}; embedlab reads Router models with a query and a document route"
        )
    routes = {}
    for route in ROUTES:
        ids = structure[route]
        if not isinstance(ids, list) or not ids or any(i not in types for i in ids):
            raise ModelLoadError(f"{source}: the {route} route must list module ids that 'types' names")
        routes[route] = [(module_kind(str(types[i])), _module_dir(root, str(i), source)) for i in ids]
        routes[route] += modules[1:]
        if routes[route][0][0] != "transformer":
            raise ModelLoadError(
                f"{source}: the {route} route starts with a {routes[route][0][0]} module; embedlab's two-tower "
                "models run a Transformer in each route"
            )
    return routes


def _module_dir(root: Path, module_id: str, source: Path) -> Path:
    """A route module's directory, which must lie inside the model directory (ids come from a downloaded file)."""
    path = root / module_id
    if not module_id or not path.resolve().is_relative_to(root.resolve()) or not path.is_dir():
        raise ModelLoadError(f"{source} names module {module_id!r}, which is not a directory inside {root}")
    return path


def move_into_route(model_dir: Path, root: Path, route: str) -> list[tuple[str, str]]:
    """Move a saved sentence-transformers directory's modules under `root` as route `route`'s modules.

    The module at the root (the Transformer: weights, tokenizer, sentence_bert_config.json) becomes
    {route}_0_Transformer, module i's directory {route}_i_{class}; gives (directory name, type) per module.
    """
    entries = read_json(model_dir / "modules.json")
    moved = []
    for index, entry in enumerate(entries):
        name = f"{route}_{index}_{str(entry['type']).rsplit('.', 1)[-1]}"
        if entry["path"]:
            shutil.move(model_dir / entry["path"], root / name)
        else:
            (root / name).mkdir()
            module_dirs = {e["path"] for e in entries if e["path"]}
            for item in model_dir.iterdir():
                if item.name not in module_dirs and item.name not in MODEL_FILES:
                    shutil.move(item, root / name / item.name)
        moved.append((name, str(entry["type"])))
    return moved


def write_router(root: Path, routes: dict[str, list[tuple[str, str]]]) -> None:
    """modules.json (one Router at the root) and router_config.json for routes of (directory name, type)."""
    write_json([{"idx": 0, "name": "0", "path": "", "type": ROUTER_TYPE}], root / "modules.json")
    config = {
        "types": {name: kind for modules in routes.values() for name, kind in modules},
        "structure": {route: [name for name, _ in modules] for route, modules in routes.items()},
        "parameters": {"default_route": "document", "allow_empty_key": True, "route_mappings": {}},
    }
    write_json(config, root / ROUTER_CONFIG)
