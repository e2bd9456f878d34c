"""sentence-transformers' SparseEncoder directory (SPLADE), read and written without sentence-transformers.

Two layouts exist. Plain: modules.json lists a fill-mask Transformer (its files at the root) and a SpladePooling
module. Inference-free: modules.json lists one Router whose routes are a SparseStaticEmbedding (a weight per
vocabulary id, its own tokenizer) on one side and Transformer + SpladePooling on the other. In both,
config_sentence_transformers.json says "model_type": "SparseEncoder" and may carry max_active_dims.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from embedlab.atomic import write_json
from embedlab.errors import ModelLoadError
from embedlab.models.router_format import ROUTER_CONFIG, ROUTES, _module_dir, write_router
from embedlab.models.st_format import SentenceTransformerLayout, read_json

SPARSE_MODEL_TYPE = "SparseEncoder"
ST_CONFIG = "config_sentence_transformers.json"
TRANSFORMER_TYPE = "sentence_transformers.base.modules.transformer.Transformer"
SPLADE_TYPE = "sentence_transformers.sparse_encoder.modules.splade_pooling.SpladePooling"
STATIC_TYPE = "sentence_transformers.sparse_encoder.modules.sparse_static_embedding.SparseStaticEmbedding"
# Module class name (last part of its type path) -> kind; MLMTransformer is the pre-5.4 fill-mask Transformer.
SPARSE_KINDS = {
    "Transformer": "transformer",
    "MLMTransformer": "transformer",
    "SpladePooling": "splade",
    "SparseStaticEmbedding": "static",
}
POOLING_STRATEGIES = ("max", "sum")
ACTIVATIONS = ("relu", "log1p_relu")
# embedlab's own key in config_sentence_transformers.json (sentence-transformers passes over it): where the MLM
# head came from when it was not pretrained (SparseEncoder.from_dense), so results can say so.
HEAD_ORIGIN_KEY = "mlm_head_origin"


@dataclass
class SpladeSettings:
    """SpladePooling's options: how token logits become one weight per vocabulary term."""

    pooling_strategy: str = "max"
    activation_function: str = "relu"

    def __post_init__(self) -> None:
        if self.pooling_strategy not in POOLING_STRATEGIES or self.activation_function not in ACTIVATIONS:
            raise ModelLoadError(
                f"SpladePooling needs pooling_strategy in {POOLING_STRATEGIES} and activation_function in "
                f"{ACTIVATIONS}, not {self.pooling_strategy!r} / {self.activation_function!r}"
            )


@dataclass
class SparseLayout:
    """What a SparseEncoder directory holds; static_dir / static_route name the inference-free side, if any."""

    transformer: SentenceTransformerLayout
    splade: SpladeSettings = field(default_factory=SpladeSettings)
    max_active_dims: int | None = None
    static_dir: Path | None = None
    static_route: str | None = None
    head_origin: str | None = None


def is_sparse_dir(path: Path) -> bool:
    """Whether config_sentence_transformers.json names a SparseEncoder (a cheap look; loading reports problems)."""
    config_path = path / ST_CONFIG
    try:
        config = read_json(config_path) if config_path.is_file() else None
    except ModelLoadError:
        return False
    return isinstance(config, dict) and config.get("model_type") == SPARSE_MODEL_TYPE


def read_sparse_layout(root: Path) -> SparseLayout:
    """The layout of a SparseEncoder directory, plain or inference-free; a one-line error for anything else."""
    entries = read_json(root / "modules.json")
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "type" in e for e in entries):
        raise ModelLoadError(f"{root / 'modules.json'} is not a list of modules with a 'type'")
    names = [str(e["type"]).rsplit(".", 1)[-1] for e in entries]
    if names == ["Router"]:
        layout = _read_router(root)
    else:
        layout = _read_route([(_kind(str(e["type"]), root), root / str(e.get("path", ""))) for e in entries], root)
    config = read_json(root / ST_CONFIG)
    layout.transformer.prompts = {k: v for k, v in (config.get("prompts") or {}).items() if isinstance(v, str)}
    layout.transformer.default_prompt_name = config.get("default_prompt_name")
    dims = config.get("max_active_dims")
    if dims is not None and (isinstance(dims, bool) or not isinstance(dims, int) or dims <= 0):
        raise ModelLoadError(f"{root / ST_CONFIG}: max_active_dims must be a positive integer, not {dims!r}")
    layout.max_active_dims = dims
    layout.head_origin = config.get(HEAD_ORIGIN_KEY)
    return layout


def _kind(type_name: str, root: Path) -> str:
    kind = SPARSE_KINDS.get(type_name.rsplit(".", 1)[-1])
    if kind is None:
        raise ModelLoadError(
            f"{root}: module type {type_name!r} is not supported in a sparse model (embedlab reads "
            f"{', '.join(SPARSE_KINDS)})"
        )
    return kind


def _read_route(modules: list[tuple[str, Path]], root: Path) -> SparseLayout:
    """Transformer then SpladePooling: the SPLADE side of a sparse model."""
    kinds = [kind for kind, _ in modules]
    if kinds != ["transformer", "splade"]:
        raise ModelLoadError(f"{root}: a SPLADE model runs a Transformer then SpladePooling, not {kinds}")
    transformer = read_mlm_settings(modules[0][1])
    splade = read_json(modules[1][1] / "config.json")
    if not isinstance(splade, dict):
        raise ModelLoadError(f"{modules[1][1] / 'config.json'} is not a JSON object")
    settings = SpladeSettings(
        str(splade.get("pooling_strategy", "max")), str(splade.get("activation_function", "relu"))
    )
    return SparseLayout(transformer, settings)


def _read_router(root: Path) -> SparseLayout:
    """An inference-free model: one route a SparseStaticEmbedding alone, the other Transformer + SpladePooling."""
    source = root / ROUTER_CONFIG if (root / ROUTER_CONFIG).is_file() else root / "config.json"
    config = read_json(source)
    types, structure = (config.get("types"), config.get("structure")) if isinstance(config, dict) else (None, None)
    if not isinstance(types, dict) or not isinstance(structure, dict) or set(structure) != set(ROUTES):
        raise ModelLoadError(f"{source} must hold 'types' and a query and a document route under 'structure'")
    routes = {}
    for route in ROUTES:
        ids = structure[route]
        if not isinstance(ids, list) or not ids or any(i not in types for i in ids):
            raise ModelLoadError(f"{source}: the {route} route must list module ids that 'types' names")
        routes[route] = [(_kind(str(types[i]), root), _module_dir(root, str(i), source)) for i in ids]
    static = [route for route in ROUTES if [kind for kind, _ in routes[route]] == ["static"]]
    if len(static) != 1:
        raise ModelLoadError(
            f"{source}: a sparse Router model has a SparseStaticEmbedding alone on one route (the inference-free "
            "side) and Transformer + SpladePooling on the other"
        )
    splade_route = next(route for route in ROUTES if route != static[0])
    layout = _read_route(routes[splade_route], root)
    layout.static_dir, layout.static_route = routes[static[0]][0][1], static[0]
    return layout


def read_mlm_settings(directory: Path) -> SentenceTransformerLayout:
    """The fill-mask Transformer module's settings (sentence_bert_config.json, if any) as a layout to load."""
    settings_path = directory / "sentence_bert_config.json"
    settings = read_json(settings_path) if settings_path.is_file() else {}
    if not isinstance(settings, dict):
        raise ModelLoadError(f"{settings_path} is not a JSON object")
    task = settings.get("transformer_task", "fill-mask")
    if task != "fill-mask":
        raise ModelLoadError(f"{directory} is a {task} Transformer; a sparse model's runs fill-mask (its MLM head)")
    return SentenceTransformerLayout(
        transformer_dir=directory,
        max_seq_length=settings.get("max_seq_length"),
        do_lower_case=bool(settings.get("do_lower_case", False)),
        tokenizer_args=dict(settings.get("processor_kwargs") or settings.get("tokenizer_args") or {}),
        config_args=dict(settings.get("config_kwargs") or settings.get("config_args") or {}),
    )


def write_mlm_settings(directory: Path, max_seq_length: int, do_lower_case: bool) -> None:
    """sentence_bert_config.json of a fill-mask Transformer module, as sentence-transformers 6 writes it."""
    write_json(
        {
            "transformer_task": "fill-mask",
            "modality_config": {"text": {"method": "forward", "method_output_name": "logits"}},
            "module_output_name": "token_embeddings",
            "max_seq_length": max_seq_length,
            "do_lower_case": do_lower_case,
        },
        directory / "sentence_bert_config.json",
    )


def write_splade_settings(directory: Path, settings: SpladeSettings) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    write_json(
        {
            "pooling_strategy": settings.pooling_strategy,
            "activation_function": settings.activation_function,
            "embedding_dimension": None,
        },
        directory / "config.json",
    )


def splade_dir_names(static_route: str | None) -> tuple[str, str, str | None]:
    """Where the Transformer, the SpladePooling and the static module go: the root and 1_SpladePooling for a
    plain model, `{route}_{i}_{class}` directories for a Router (sentence-transformers' names)."""
    if static_route is None:
        return "", "1_SpladePooling", None
    splade_route = next(route for route in ROUTES if route != static_route)
    return (
        f"{splade_route}_0_Transformer",
        f"{splade_route}_1_SpladePooling",
        f"{static_route}_0_SparseStaticEmbedding",
    )


def write_sparse_modules(root: Path, static_route: str | None) -> None:
    """modules.json (and router_config.json for an inference-free model) for the directories splade_dir_names
    gives; the modules' own files are written by their owners."""
    transformer, splade, static = splade_dir_names(static_route)
    if static_route is None:
        write_json(
            [
                {"idx": 0, "name": "0", "path": "", "type": TRANSFORMER_TYPE},
                {"idx": 1, "name": "1", "path": splade, "type": SPLADE_TYPE},
            ],
            root / "modules.json",
        )
        return
    splade_route = next(route for route in ROUTES if route != static_route)
    write_router(
        root,
        {
            static_route: [(static, STATIC_TYPE)],
            splade_route: [(transformer, TRANSFORMER_TYPE), (splade, SPLADE_TYPE)],
        },
    )


def write_sparse_config(root: Path, layout: SparseLayout, versions: dict) -> None:
    """config_sentence_transformers.json of a SparseEncoder: prompts, dot-product similarity, max_active_dims."""
    config = {
        "__version__": versions,
        "model_type": SPARSE_MODEL_TYPE,
        "prompts": layout.transformer.prompts,
        "default_prompt_name": layout.transformer.default_prompt_name,
        "similarity_fn_name": "dot",
    }
    if layout.max_active_dims is not None:
        config["max_active_dims"] = layout.max_active_dims
    if layout.head_origin:
        config[HEAD_ORIGIN_KEY] = layout.head_origin
    write_json(config, root / ST_CONFIG)
