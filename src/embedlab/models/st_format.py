"""The sentence-transformers model directory, read and written without sentence-transformers.

Models then move freely: any sentence-transformers model loads here, and what embedlab saves loads there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from embedlab.errors import EmbedlabError, ModelLoadError
from embedlab.instructions import check_template

ST_TYPES = {
    "transformer": "sentence_transformers.models.Transformer",
    "pooling": "sentence_transformers.models.Pooling",
    "dense": "sentence_transformers.models.Dense",
    "layernorm": "sentence_transformers.models.LayerNorm",
    "normalize": "sentence_transformers.models.Normalize",
}
# Pooling strategies sentence-transformers cannot express are saved under embedlab's own module type.
EMBEDLAB_POOLING_TYPE = "embedlab.pooling.Pooling"
# Module class name (the last part of its type path, any sentence-transformers version) -> embedlab's kind.
MODULE_KINDS = {
    "Transformer": "transformer",
    "Pooling": "pooling",
    "Dense": "dense",
    "LayerNorm": "layernorm",
    "Normalize": "normalize",
    "StaticEmbedding": "static_embedding",
    "Router": "router",
}
# The order a transformer embedding model's modules may come in: each kind may follow only the kinds listed.
ALLOWED_AFTER = {
    "pooling": {"transformer"},
    "dense": {"pooling", "dense", "layernorm"},
    "layernorm": {"pooling", "dense", "layernorm"},
    "normalize": {"pooling", "dense", "layernorm"},
}


@dataclass
class SentenceTransformerLayout:
    """What a sentence-transformers directory says about its modules and settings.

    head lists the modules after pooling (kind "dense" or "layernorm", directory), in order.
    """

    transformer_dir: Path
    pooling_dir: Path | None = None
    head: list[tuple[str, Path]] = field(default_factory=list)
    normalize: bool = False
    max_seq_length: int | None = None
    do_lower_case: bool = False
    prompts: dict[str, str] = field(default_factory=dict)
    default_prompt_name: str | None = None
    similarity_fn_name: str | None = None
    # embedlab's own key, which sentence-transformers' loader passes over (embedlab/instructions.py).
    instruction_template: str | None = None
    tokenizer_args: dict = field(default_factory=dict)
    config_args: dict = field(default_factory=dict)


def read_json(path: Path) -> dict | list:
    """Parse a JSON file, turning absence or corruption into a one-line ModelLoadError."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"missing file {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelLoadError(f"malformed JSON in {path}: {err}") from None


def is_sentence_transformers_dir(path: Path) -> bool:
    return (path / "modules.json").is_file()


def directory_layout(directory: Path) -> SentenceTransformerLayout:
    """A transformer model directory's layout: its modules.json, or a plain Hugging Face model (mean pooling,
    normalised, the pooling given when it loads)."""
    if is_sentence_transformers_dir(directory):
        return read_layout(directory)
    if not (directory / "config.json").is_file():
        raise ModelLoadError(
            f"{directory} has neither modules.json nor config.json: not a transformer model directory "
            "(embedlab.load_model reads every model kind)"
        )
    return SentenceTransformerLayout(transformer_dir=directory, normalize=True)


def module_kind(type_name: str) -> str:
    """embedlab's name for a sentence-transformers module type; a one-line error for types it cannot run."""
    kind = MODULE_KINDS.get(type_name.rsplit(".", 1)[-1])
    if kind is None:
        known = ", ".join(MODULE_KINDS)
        raise ModelLoadError(f"module type {type_name!r} in modules.json is not supported (embedlab reads {known})")
    return kind


def first_module_kind(path: Path) -> str | None:
    """The kind of modules.json's first module, or None when there is none to read (a cheap look: loading the
    model reports what is wrong)."""
    try:
        return MODULE_KINDS.get(str(read_json(path / "modules.json")[0]["type"]).rsplit(".", 1)[-1])
    except (ModelLoadError, LookupError, TypeError):
        return None


def read_modules(root: Path) -> list[tuple[str, Path]]:
    """(kind, directory) of each module in modules.json, in order."""
    modules = read_json(root / "modules.json")
    if not isinstance(modules, list) or not all(isinstance(m, dict) and "type" in m for m in modules):
        raise ModelLoadError(f"{root / 'modules.json'} is not a list of modules with a 'type'")
    return [(module_kind(str(m["type"])), root / str(m.get("path", ""))) for m in modules]


def read_layout(root: Path) -> SentenceTransformerLayout:
    """Read modules.json and the configs it points to, checking the modules come in an order embedlab runs."""
    return layout_of_modules(read_modules(root), root, root / "modules.json")


def layout_of_modules(modules: list[tuple[str, Path]], root: Path, source: Path) -> SentenceTransformerLayout:
    """The layout of one module list (modules.json's, or a Router route's, named by `source` in errors), with
    the model-wide settings of config_sentence_transformers.json in `root`."""
    kinds = [kind for kind, _ in modules]
    for kind in ("static_embedding", "router"):
        if kind in kinds:
            raise ModelLoadError(f"{source} holds a {kind} model: load it with embedlab.load_model")
    if not kinds or kinds[0] != "transformer":
        raise ModelLoadError(f"{source} must start with a Transformer module (it lists {kinds})")
    for before, (kind, _) in zip(kinds, modules[1:]):
        if before not in ALLOWED_AFTER.get(kind, ()):
            raise ModelLoadError(
                f"{source} puts {kind} after {before}; embedlab runs Transformer, Pooling, "
                "then Dense/LayerNorm modules, then Normalize last"
            )
    layout = SentenceTransformerLayout(transformer_dir=modules[0][1])
    _read_transformer_settings(layout)
    for kind, path in modules[1:]:
        if kind == "pooling":
            layout.pooling_dir = path
        elif kind == "normalize":
            layout.normalize = True
        else:
            layout.head.append((kind, path))
    if layout.head and layout.pooling_dir is None:
        raise ModelLoadError(f"{source} has Dense/LayerNorm modules but no Pooling before them")
    extra = root / "config_sentence_transformers.json"
    if extra.is_file():
        config = read_json(extra)
        layout.prompts = {k: v for k, v in (config.get("prompts") or {}).items() if isinstance(v, str)}
        layout.default_prompt_name = config.get("default_prompt_name")
        layout.similarity_fn_name = config.get("similarity_fn_name")
        if (template := config.get("instruction_template")) is not None:
            try:
                layout.instruction_template = check_template(template)
            except EmbedlabError as err:
                raise ModelLoadError(f"{extra}: {err}") from None
    return layout


def _read_transformer_settings(layout: SentenceTransformerLayout) -> None:
    """sentence_bert_config.json: max_seq_length and do_lower_case (any version), tokenizer and config arguments
    (old names tokenizer_args/config_args, new processor_kwargs/config_kwargs)."""
    settings = layout.transformer_dir / "sentence_bert_config.json"
    config = read_json(settings) if settings.is_file() else {}
    if not isinstance(config, dict):
        raise ModelLoadError(f"{settings} is not a JSON object")
    task = config.get("transformer_task", "feature-extraction")
    if task != "feature-extraction":
        raise ModelLoadError(
            f"{layout.transformer_dir} is a {task} model, not an embedding model"
            + (" (a cross-encoder: use it with --rerank)" if task == "sequence-classification" else "")
        )
    layout.max_seq_length = config.get("max_seq_length")
    layout.do_lower_case = bool(config.get("do_lower_case", False))
    layout.tokenizer_args = dict(config.get("processor_kwargs") or config.get("tokenizer_args") or {})
    layout.config_args = dict(config.get("config_kwargs") or config.get("config_args") or {})


def module_dir_name(index: int, kind: str) -> str:
    """The directory sentence-transformers gives module `index`: 1_Pooling, 2_Dense, 3_Normalize, ..."""
    return f"{index}_{next(name for name, k in MODULE_KINDS.items() if k == kind)}"


def write_layout(root: Path, layout: SentenceTransformerLayout, *, pooling_is_st: bool, versions: dict) -> None:
    """Write modules.json and the small configs; weights, tokenizer and module weights are saved by their owners.

    The pooling and head directories must already carry sentence-transformers' names (module_dir_name).
    """
    entries = [("", ST_TYPES["transformer"])]
    if layout.pooling_dir is not None:
        entries.append((layout.pooling_dir.name, ST_TYPES["pooling"] if pooling_is_st else EMBEDLAB_POOLING_TYPE))
    entries += [(path.name, ST_TYPES[kind]) for kind, path in layout.head]
    if layout.normalize:
        name = module_dir_name(len(entries), "normalize")
        (root / name).mkdir(exist_ok=True)
        entries.append((name, ST_TYPES["normalize"]))
    modules = [{"idx": i, "name": str(i), "path": path, "type": kind} for i, (path, kind) in enumerate(entries)]
    _write_json(root / "modules.json", modules)
    settings: dict = {"max_seq_length": layout.max_seq_length, "do_lower_case": layout.do_lower_case}
    if layout.tokenizer_args:
        settings["tokenizer_args"] = layout.tokenizer_args
    if layout.config_args:
        settings["config_args"] = layout.config_args
    _write_json(root / "sentence_bert_config.json", settings)
    _write_json(
        root / "config_sentence_transformers.json",
        {
            "__version__": versions,
            "model_type": "SentenceTransformer",
            "prompts": layout.prompts,
            "default_prompt_name": layout.default_prompt_name,
            "similarity_fn_name": layout.similarity_fn_name or "cosine",
        }
        | ({"instruction_template": layout.instruction_template} if layout.instruction_template else {}),
    )


def _write_json(path: Path, content: dict | list) -> None:
    path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
