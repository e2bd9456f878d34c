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
    "normalize": "sentence_transformers.models.Normalize",
}
# Pooling strategies sentence-transformers cannot express are saved under embedlab's own module type.
EMBEDLAB_POOLING_TYPE = "embedlab.pooling.Pooling"


@dataclass
class SentenceTransformerLayout:
    """What a sentence-transformers directory says about its modules and settings."""

    transformer_dir: Path
    pooling_dir: Path | None = None
    normalize: bool = False
    max_seq_length: int | None = None
    do_lower_case: bool = False
    prompts: dict[str, str] = field(default_factory=dict)
    default_prompt_name: str | None = None
    similarity_fn_name: str | None = None
    # embedlab's own key, which sentence-transformers' loader passes over (embedlab/instructions.py).
    instruction_template: str | None = None


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


def _module_kind(type_name: str) -> str:
    for kind in ("Transformer", "Pooling", "Normalize"):
        if type_name.rsplit(".", 1)[-1] == kind:
            return kind.lower()
    raise ModelLoadError(
        f"module type {type_name!r} in modules.json is not supported "
        "(embedlab reads Transformer, Pooling and Normalize modules)"
    )


def read_layout(root: Path) -> SentenceTransformerLayout:
    """Read modules.json and the configs it points to."""
    modules = read_json(root / "modules.json")
    if not isinstance(modules, list) or not all(isinstance(m, dict) and "type" in m for m in modules):
        raise ModelLoadError(f"{root / 'modules.json'} is not a list of modules with a 'type'")
    layout = SentenceTransformerLayout(transformer_dir=root)
    found_transformer = False
    for module in modules:
        kind = _module_kind(module["type"])
        path = root / module.get("path", "")
        if kind == "transformer":
            found_transformer = True
            layout.transformer_dir = path
            settings = path / "sentence_bert_config.json"
            config = read_json(settings) if settings.is_file() else {}
            layout.max_seq_length = config.get("max_seq_length")
            layout.do_lower_case = bool(config.get("do_lower_case", False))
        elif kind == "pooling":
            layout.pooling_dir = path
        else:
            layout.normalize = True
    if not found_transformer:
        raise ModelLoadError(f"{root / 'modules.json'} lists no Transformer module")
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


def write_layout(root: Path, layout: SentenceTransformerLayout, *, pooling_is_st: bool, versions: dict) -> None:
    """Write modules.json and the small configs; weights and tokenizer are saved by their owners."""
    modules = [{"idx": 0, "name": "0", "path": "", "type": ST_TYPES["transformer"]}]
    if layout.pooling_dir is not None:
        pooling_type = ST_TYPES["pooling"] if pooling_is_st else EMBEDLAB_POOLING_TYPE
        modules.append({"idx": 1, "name": "1", "path": layout.pooling_dir.name, "type": pooling_type})
    if layout.normalize:
        (root / "2_Normalize").mkdir(exist_ok=True)
        modules.append(
            {"idx": len(modules), "name": str(len(modules)), "path": "2_Normalize", "type": ST_TYPES["normalize"]}
        )
    _write_json(root / "modules.json", modules)
    _write_json(
        root / "sentence_bert_config.json",
        {"max_seq_length": layout.max_seq_length, "do_lower_case": layout.do_lower_case},
    )
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
