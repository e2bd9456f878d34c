"""The sentence-transformers `MultiVectorEncoder` directory (ColBERT), read and written without sentence-transformers.

Layout (sentence-transformers 6.3, which also loads PyLate's): the transformer at the root with
`sentence_bert_config.json` holding `query_expansion` and `document_length`; `1_Dense` (the token projection,
`module_input_name: token_embeddings`); `2_MultiVectorMask` (the skiplist); `3_Normalize`; and
`config_sentence_transformers.json` with `model_type: MultiVectorEncoder` and the [Q] / [D] prompts.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from pathlib import Path

from embedlab.errors import ModelLoadError
from embedlab.models.st_format import read_json

MODEL_TYPE = "MultiVectorEncoder"
TRANSFORMER_TYPE = "sentence_transformers.base.modules.transformer.Transformer"
DENSE_TYPE = "sentence_transformers.base.modules.dense.Dense"
MASK_TYPE = "sentence_transformers.multi_vector_encoder.modules.multi_vector_mask.MultiVectorMask"
NORMALIZE_TYPE = "sentence_transformers.base.modules.normalize.Normalize"
MODULE_DIRS = ("1_Dense", "2_MultiVectorMask", "3_Normalize")
TOKEN_IO = {"module_input_name": "token_embeddings", "module_output_name": "token_embeddings"}
# ColBERT's markers, added to the tokenizer as single special tokens (as PyLate does) and applied as prompts.
MARKERS = {"query": "[Q] ", "document": "[D] "}
EXPANSION_STRATEGIES = ("fixed", "min")


@dataclass
class MultiVectorSettings:
    """How texts become token rows: markers, query augmentation, lengths and the document skiplist.

    expansion_length is the query marker budget: queries are padded with the mask token up to it ("fixed" also
    caps them there; "min" only pads). None turns augmentation off. attend_to_expansion lets the transformer
    attend to the mask tokens (PyLate's attend_to_expansion_tokens); classic ColBERT only scores them.
    """

    expansion_length: int | None = 32
    expansion_strategy: str = "fixed"
    attend_to_expansion: bool = False
    expansion_token: str | None = None
    query_length: int | None = None
    document_length: int | None = None
    skiplist_words: list[str] = field(default_factory=lambda: list(string.punctuation))
    skiplist_tasks: list[str] = field(default_factory=lambda: ["document"])
    max_seq_length: int | None = None
    do_lower_case: bool = False
    prompts: dict[str, str] = field(default_factory=lambda: dict(MARKERS))
    similarity_fn_name: str = "maxsim"
    tokenizer_args: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.expansion_strategy not in EXPANSION_STRATEGIES:
            raise ModelLoadError(f"query expansion strategy must be fixed or min, not {self.expansion_strategy!r}")
        for name in ("expansion_length", "query_length", "document_length", "max_seq_length"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ModelLoadError(f"{name} must be a positive integer, not {value!r}")


def is_multi_vector_dir(path: Path) -> bool:
    """Whether a directory holds a sentence-transformers MultiVectorEncoder (a cheap look, no weights read)."""
    config = path / "config_sentence_transformers.json"
    if not config.is_file():
        return False
    try:
        content = read_json(config)
    except ModelLoadError:
        return False
    return isinstance(content, dict) and content.get("model_type") == MODEL_TYPE


def read_settings(root: Path) -> tuple[MultiVectorSettings, Path, Path]:
    """The settings of a MultiVectorEncoder directory, its transformer's directory and its projection's."""
    modules = read_json(root / "modules.json")
    if not isinstance(modules, list) or not all(isinstance(m, dict) and "type" in m for m in modules):
        raise ModelLoadError(f"{root / 'modules.json'} is not a list of modules with a 'type'")
    kinds = [str(m["type"]).rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Dense"] or set(kinds[2:]) - {"MultiVectorMask", "Normalize"}:
        raise ModelLoadError(
            f"{root} lists modules {kinds}; embedlab reads Transformer, Dense, MultiVectorMask, Normalize"
        )
    if "Normalize" not in kinds:
        raise ModelLoadError(f"{root} has no Normalize module: embedlab's ColBERT rows are unit vectors")
    paths = {kind: root / str(m.get("path", "")) for kind, m in zip(kinds, modules)}
    transformer = _object(paths["Transformer"] / "sentence_bert_config.json")
    mask = _object(paths["MultiVectorMask"] / "config.json") if "MultiVectorMask" in paths else {}
    model = _object(root / "config_sentence_transformers.json")
    expansion = transformer.get("query_expansion")
    if expansion is not None and not isinstance(expansion, dict):
        raise ModelLoadError(f"{root}: query_expansion must be an object or null")
    expansion = expansion or {}
    settings = MultiVectorSettings(
        expansion_length=expansion.get("length") if expansion else None,
        expansion_strategy=expansion.get("strategy", "fixed"),
        attend_to_expansion=bool(expansion.get("attend", False)),
        expansion_token=expansion.get("token"),
        query_length=transformer.get("query_length"),
        document_length=transformer.get("document_length"),
        skiplist_words=list(mask.get("skiplist_words") or []),
        skiplist_tasks=_tasks(mask.get("skiplist_tasks", ["document"])),
        max_seq_length=transformer.get("max_seq_length"),
        do_lower_case=bool(transformer.get("do_lower_case", False)),
        prompts={k: v for k, v in (model.get("prompts") or {}).items() if isinstance(v, str)},
        similarity_fn_name=model.get("similarity_fn_name") or "maxsim",
        tokenizer_args=dict(transformer.get("processor_kwargs") or transformer.get("tokenizer_args") or {}),
    )
    if settings.similarity_fn_name != "maxsim":
        raise ModelLoadError(f"{root} scores by {settings.similarity_fn_name}; embedlab scores by maxsim only")
    return settings, paths["Transformer"], paths["Dense"]


def write_settings(root: Path, settings: MultiVectorSettings, versions: dict) -> None:
    """modules.json and the small configs; the transformer, tokenizer and projection weights are saved by their
    owners (the projection into root / MODULE_DIRS[0])."""
    types = (TRANSFORMER_TYPE, DENSE_TYPE, MASK_TYPE, NORMALIZE_TYPE)
    modules = [{"idx": i, "name": str(i), "path": path, "type": kind}
               for i, (path, kind) in enumerate(zip(("", *MODULE_DIRS), types))]
    _write(root / "modules.json", modules)
    expansion = None if settings.expansion_length is None else {
        "strategy": settings.expansion_strategy, "attend": settings.attend_to_expansion,
        "token": settings.expansion_token, "length": settings.expansion_length,
    }
    transformer = {
        "transformer_task": "feature-extraction",
        "modality_config": {"text": {"method": "forward", "method_output_name": "last_hidden_state"}},
        "module_output_name": "token_embeddings",
        "max_seq_length": settings.max_seq_length,
        "do_lower_case": settings.do_lower_case,
        "query_length": settings.query_length,
        "document_length": settings.document_length,
        "query_expansion": expansion,
    }
    if settings.tokenizer_args:
        transformer["processor_kwargs"] = settings.tokenizer_args
    _write(root / "sentence_bert_config.json", transformer)
    dense_config = root / MODULE_DIRS[0] / "config.json"
    _write(dense_config, {**read_json(dense_config), **TOKEN_IO})
    (root / MODULE_DIRS[1]).mkdir(exist_ok=True)
    mask = {"skiplist_words": settings.skiplist_words, "skiplist_tasks": settings.skiplist_tasks,
            "keep_only_token_ids": None}
    _write(root / MODULE_DIRS[1] / "config.json", mask)
    (root / MODULE_DIRS[2]).mkdir(exist_ok=True)
    _write(root / MODULE_DIRS[2] / "config.json", TOKEN_IO)
    _write(root / "config_sentence_transformers.json", {
        "__version__": versions, "model_type": MODEL_TYPE, "prompts": settings.prompts,
        "default_prompt_name": None, "similarity_fn_name": settings.similarity_fn_name,
    })


def _object(path: Path) -> dict:
    content = read_json(path) if path.is_file() else {}
    if not isinstance(content, dict):
        raise ModelLoadError(f"{path} is not a JSON object")
    return content


def _tasks(value: object) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value or []]


def _write(path: Path, content: dict | list) -> None:
    path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
