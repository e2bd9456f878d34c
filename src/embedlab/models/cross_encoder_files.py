"""The sentence-transformers CrossEncoder directory, read and written without sentence-transformers.

A CrossEncoder is a Hugging Face sequence-classification directory (config.json with num_labels). Each
sentence-transformers version says a little more beside it, and all of it is read here:
- v6: modules.json with one Transformer whose sentence_bert_config.json says "transformer_task":
  "sequence-classification", and config_sentence_transformers.json ("model_type": "CrossEncoder", "activation_fn");
- v4-v5: config.json["sentence_transformers"]["activation_fn"]; before v4: config.json's
  "sbert_ce_default_activation_function"; both may have no modules.json at all.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from embedlab.atomic import write_json
from embedlab.errors import ModelLoadError, check_positive_integer
from embedlab.models.dense import activation_from_name
from embedlab.models.st_format import read_json

LEGACY_MARKER = "cross_encoder.json"  # embedlab's own format before it wrote sentence-transformers' one
SEQUENCE_CLASSIFICATION = "sequence-classification"
ST_TRANSFORMER_TYPE = "sentence_transformers.base.modules.transformer.Transformer"
ST_CONFIG = "config_sentence_transformers.json"
MODULE_CONFIG = "sentence_bert_config.json"


@dataclass
class CrossEncoderSettings:
    """What a cross-encoder directory says beside its weights: how predict scores and how long inputs may be."""

    activation: str | None = None  # a dotted torch.nn class name; None: sigmoid for one label, identity otherwise
    max_seq_length: int | None = None  # None: the tokenizer's limit, capped at the position table
    do_lower_case: bool = False


def is_legacy_dir(path: Path) -> bool:
    return (path / LEGACY_MARKER).is_file()


def is_cross_encoder_dir(path: str | Path) -> bool:
    """Whether a directory holds a cross-encoder in any format (sentence-transformers v6 or older, a plain
    sequence-classification model, or embedlab's legacy one); never raises, a broken one loads to an error."""
    path = Path(path).expanduser()
    if is_legacy_dir(path):
        return True
    try:
        if (path / ST_CONFIG).is_file() and _dict(read_json(path / ST_CONFIG)).get("model_type") == "CrossEncoder":
            return True
        if (path / "modules.json").is_file():
            return _transformer_task(path) == SEQUENCE_CLASSIFICATION
        if (path / "config.json").is_file():
            architectures = _dict(read_json(path / "config.json")).get("architectures") or []
            return any(str(name).endswith("ForSequenceClassification") for name in architectures)
    except ModelLoadError:
        return False
    return False


def _dict(content: object) -> dict:
    return content if isinstance(content, dict) else {}


def _transformer_task(path: Path) -> str | None:
    modules = read_json(path / "modules.json")
    if not isinstance(modules, list) or not modules or not isinstance(modules[0], dict):
        return None
    config = path / str(modules[0].get("path", "")) / MODULE_CONFIG
    return _dict(read_json(config)).get("transformer_task") if config.is_file() else None


def read_settings(path: Path, config: dict) -> CrossEncoderSettings:
    """The settings of a cross-encoder directory whose config.json is `config`; refuses module lists and prompts
    that would make sentence-transformers score differently from a plain sequence-classification model."""
    settings = CrossEncoderSettings()
    if (path / "modules.json").is_file():
        modules = read_json(path / "modules.json")
        if not (
            isinstance(modules, list)
            and len(modules) == 1
            and isinstance(modules[0], dict)
            and str(modules[0].get("type", "")).endswith("Transformer")
            and not modules[0].get("path")
        ):
            types = [m.get("type") for m in modules if isinstance(m, dict)] if isinstance(modules, list) else modules
            raise ModelLoadError(
                f"{path / 'modules.json'} lists {types}: embedlab reads cross-encoders made of one "
                "sequence-classification Transformer module"
            )
        module = _dict(read_json(path / MODULE_CONFIG)) if (path / MODULE_CONFIG).is_file() else {}
        task = module.get("transformer_task", SEQUENCE_CLASSIFICATION)
        if task != SEQUENCE_CLASSIFICATION:
            raise ModelLoadError(
                f"{path / MODULE_CONFIG} has transformer_task {task!r}, not {SEQUENCE_CLASSIFICATION!r}"
            )
        tokenizer_args = _dict(module.get("processor_kwargs") or module.get("tokenizer_args"))
        settings.max_seq_length = tokenizer_args.get("model_max_length") or module.get("max_seq_length")
        check_positive_integer(f"max_seq_length in {path / MODULE_CONFIG}", settings.max_seq_length, optional=True)
        settings.do_lower_case = bool(module.get("do_lower_case", False))
    st_config = _dict(read_json(path / ST_CONFIG)) if (path / ST_CONFIG).is_file() else {}
    if st_config.get("default_prompt_name") is not None:
        raise ModelLoadError(f"{path / ST_CONFIG} sets a default prompt; embedlab's cross-encoders take no prompts")
    # sentence-transformers' order: its own config, then config.json (v4-v5), then the pre-v4 key.
    names = [
        st_config.get("activation_fn"),
        _dict(config.get("sentence_transformers")).get("activation_fn"),
        config.get("sbert_ce_default_activation_function"),
    ]
    settings.activation = next((name for name in names if name), None)
    return settings


def activation_module(name: str | None, num_labels: int) -> nn.Module:
    """The torch.nn activation a dotted name gives (dense.activation_from_name: looked up in torch.nn, never
    imported); a name outside torch falls back to the default as sentence-transformers does without
    trust_remote_code."""
    if name is not None and not name.startswith("torch."):
        warnings.warn(f"activation {name!r} is not a torch class; using the default activation instead", stacklevel=3)
        name = None
    if name is None:
        return nn.Sigmoid() if num_labels == 1 else nn.Identity()
    return activation_from_name(name, "the cross-encoder's config")


def write_st_configs(path: Path, settings: CrossEncoderSettings, versions: dict) -> None:
    """modules.json and the two configs of sentence-transformers v6; weights and tokenizer are saved by their owners."""
    write_json([{"idx": 0, "name": "0", "path": "", "type": ST_TRANSFORMER_TYPE}], path / "modules.json")
    module = {
        "transformer_task": SEQUENCE_CLASSIFICATION,
        "modality_config": {"text": {"method": "forward", "method_output_name": "logits"}},
        "module_output_name": "scores",
    }
    write_json(module | ({"do_lower_case": True} if settings.do_lower_case else {}), path / MODULE_CONFIG)
    write_json(
        {
            "__version__": versions,
            "activation_fn": settings.activation,
            "default_prompt_name": None,
            "model_type": "CrossEncoder",
            "prompts": {},
        },
        path / ST_CONFIG,
    )
