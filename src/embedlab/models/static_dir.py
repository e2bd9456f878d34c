"""A static model's directory: model2vec's format and sentence-transformers' StaticEmbedding, read and written.

model2vec reads config.json (model_type model2vec), model.safetensors ("embeddings", optionally per-token
"weights") and tokenizer.json. sentence-transformers reads modules.json: a StaticEmbedding module (tokenizer.json
and model.safetensors, where it also takes model2vec's tensors), then optionally Normalize. Both fit in one
directory, so embedlab writes both and every library loads the same files.

The two differ in two rules: model2vec leaves the tokenizer's unknown token out of a text's mean, while
sentence-transformers counts it; and sentence-transformers keeps the truncation saved in tokenizer.json, where
model2vec cuts at config.json's max_length. StaticSettings records which rules a model follows, and config.json
keeps them (count_unknown_tokens, max_length), so a model reloads with the vectors it had.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from embedlab.atomic import write_json
from embedlab.errors import ModelLoadError
from embedlab.models.model_files import first_line
from embedlab.models.st_format import first_module_kind, read_json, read_modules

STATIC_MODEL_TYPE = "model2vec"
VECTORS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
ST_STATIC_TYPE = "sentence_transformers.models.StaticEmbedding"
ST_NORMALIZE_TYPE = "sentence_transformers.models.Normalize"


@dataclass
class StaticSettings:
    """How a static model turns token vectors into a text vector, beyond the plain mean."""

    normalize: bool = True
    count_unknown: bool = False  # sentence-transformers averages the unknown token too; model2vec skips it
    max_seq_length: int | None = None  # tokens kept per text (None: all)


@dataclass
class StaticFiles:
    """What a static model directory holds: the tokenizer, one vector (and optional weight) per token id."""

    tokenizer: Any
    vectors: np.ndarray
    weights: np.ndarray | None
    settings: StaticSettings


def is_model2vec_dir(path: Path) -> bool:
    config = path / "config.json"
    if not config.is_file():
        return False
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("model_type") == STATIC_MODEL_TYPE
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return False


def is_st_static_dir(path: Path) -> bool:
    """Whether modules.json starts with a StaticEmbedding (a cheap look; read_static_dir reports what is wrong)."""
    return first_module_kind(path) == "static_embedding"


def read_static_dir(path: Path) -> StaticFiles:
    """model2vec's files when config.json says model2vec (embedlab's own saves too), else the StaticEmbedding."""
    if is_model2vec_dir(path):
        config = read_json(path / "config.json")
        settings = StaticSettings(
            normalize=bool(config.get("normalize", True)),
            count_unknown=bool(config.get("count_unknown_tokens", False)),
            max_seq_length=config.get("max_length"),
        )
        files = _read_files(path, path, settings)
        files.tokenizer.no_truncation()  # model2vec cuts at max_length, whatever tokenizer.json says
        return files
    modules = read_modules(path)
    kinds = [kind for kind, _ in modules]
    if kinds not in (["static_embedding"], ["static_embedding", "normalize"]):
        raise ModelLoadError(f"{path / 'modules.json'} lists {kinds}; embedlab reads a StaticEmbedding, then Normalize")
    prompts = read_json(path / "config_sentence_transformers.json").get("prompts") if (
        path / "config_sentence_transformers.json"
    ).is_file() else None
    if any((prompts or {}).values()):
        raise ModelLoadError(f"{path} gives its static model prompts, which embedlab's static models do not apply")
    settings = StaticSettings(normalize="normalize" in kinds, count_unknown=True)
    files = _read_files(modules[0][1], path, settings)
    truncation = files.tokenizer.truncation
    if truncation:
        if truncation.get("direction", "right") != "right":
            raise ModelLoadError(f"{path}: its tokenizer truncates from the left, which embedlab does not do")
        settings.max_seq_length = int(truncation["max_length"])
        files.tokenizer.no_truncation()  # the encoder cuts each text's ids itself
    return files


def _read_files(module_dir: Path, path: Path, settings: StaticSettings) -> StaticFiles:
    """tokenizer.json and the vectors: sentence-transformers' embedding.weight or model2vec's embeddings, whose
    optional vocabulary mapping picks each token's row (per-token weights stay weights)."""
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    if not (module_dir / VECTORS_FILE).is_file():
        raise ModelLoadError(f"{module_dir} has no {VECTORS_FILE} (embedlab does not read pickle weights here)")
    try:
        tensors = load_file(str(module_dir / VECTORS_FILE))
        tokenizer = Tokenizer.from_file(str(module_dir / TOKENIZER_FILE))
    except Exception as err:  # noqa: BLE001 - safetensors and tokenizers raise their own types for unreadable files
        raise ModelLoadError(f"cannot read the static model in {path}: {first_line(err)}") from None
    if set(tensors) == {"embedding.weight"}:
        vectors = tensors["embedding.weight"]
    elif "embeddings" in tensors and not set(tensors) - {"embeddings", "weights", "mapping"}:
        vectors = tensors["embeddings"]
        if "mapping" in tensors:
            vectors = vectors[tensors["mapping"].astype(np.int64)]
    else:
        raise ModelLoadError(
            f"{module_dir / VECTORS_FILE} holds {sorted(tensors)}; expected 'embedding.weight' (sentence-transformers) "
            "or 'embeddings' with optional 'weights' and 'mapping' (model2vec)"
        )
    tokens = tokenizer.get_vocab_size(with_added_tokens=True)
    if vectors.ndim != 2 or tokens != len(vectors):
        raise ModelLoadError(f"{path}: {tokens} tokens in the tokenizer but a vector table of shape {vectors.shape}")
    tokenizer.no_padding()
    return StaticFiles(tokenizer, vectors.astype(np.float32), tensors.get("weights"), settings)


def write_static_dir(staging: Path, files: StaticFiles, config: dict[str, Any]) -> None:
    """Both formats into `staging`; `config` adds provenance (teacher, settings) to config.json."""
    from safetensors.numpy import save_file

    settings = files.settings
    tensors = {"embeddings": files.vectors} | ({"weights": files.weights} if files.weights is not None else {})
    save_file(tensors, str(staging / VECTORS_FILE))
    tokenizer = files.tokenizer
    if settings.max_seq_length is not None:  # where sentence-transformers reads its truncation
        tokenizer = type(tokenizer).from_str(tokenizer.to_str())
        tokenizer.enable_truncation(settings.max_seq_length)
    (staging / TOKENIZER_FILE).write_text(tokenizer.to_str(), encoding="utf-8")
    model2vec = {"model_type": STATIC_MODEL_TYPE, "architectures": ["StaticModel"], "hidden_dim": len(files.vectors[0])}
    rules = {
        "normalize": settings.normalize,
        "pooling": "mean",
        "max_length": settings.max_seq_length,
        "count_unknown_tokens": settings.count_unknown,
    }
    write_json(model2vec | rules | config, staging / "config.json")
    modules = [{"idx": 0, "name": "0", "path": "", "type": ST_STATIC_TYPE}]
    if settings.normalize:
        (staging / "1_Normalize").mkdir()
        modules.append({"idx": 1, "name": "1", "path": "1_Normalize", "type": ST_NORMALIZE_TYPE})
    write_json(modules, staging / "modules.json")
    model = {
        "__version__": {"embedlab": version("embedlab")},
        "model_type": "SentenceTransformer",
        "prompts": {},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    }
    write_json(model, staging / "config_sentence_transformers.json")

