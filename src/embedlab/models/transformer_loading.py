"""Loading the Transformer module of an embedding model: its tokenizer and whatever `transformers` builds.

Every check that would otherwise surface as a half-loaded model or a deep traceback happens here, as a
one-line ModelLoadError: custom code the config asks for, a missing tokenizer, a tokenizer larger than the
embedding table, weights that do not fit the config.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from embedlab.errors import ModelLoadError
from embedlab.models.model_files import first_line, quiet_transformers
from embedlab.models.st_format import SentenceTransformerLayout, read_json

# Encoder-decoder families whose embedders use the encoder alone (sentence-t5, GTR), as sentence-transformers does.
ENCODER_ONLY_CLASSES = {
    "t5": "T5EncoderModel",
    "mt5": "MT5EncoderModel",
    "umt5": "UMT5EncoderModel",
    "longt5": "LongT5EncoderModel",
}
# Keys a checkpoint may lack without harm: BERT's pooler is never read by embedding models.
OPTIONAL_WEIGHTS = ("pooler.",)
# Arguments in sentence_bert_config.json that would change where code or weights come from; never taken from files.
UNSAFE_ARGUMENTS = ("trust_remote_code", "code_revision", "revision", "token", "cache_dir")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "spiece.model", "sentencepiece.bpe.model")


def load_transformer(
    layout: SentenceTransformerLayout,
    *,
    use_safetensors: bool,
    trust_remote_code: bool,
    eager_attention: bool,
    masked_lm: bool = False,
) -> tuple[nn.Module, object]:
    """The transformer (fp32) and its tokenizer from layout.transformer_dir; `masked_lm` loads it with its MLM head
    (AutoModelForMaskedLM, what sparse models read their term weights from)."""
    import transformers
    from transformers import AutoConfig, AutoTokenizer

    directory = layout.transformer_dir
    check_remote_code(directory, trust_remote_code)
    if not any((directory / name).is_file() for name in TOKENIZER_FILES):
        raise ModelLoadError(f"{directory} has no tokenizer (expected tokenizer.json)")
    tokenizer_args = _safe(layout.tokenizer_args)
    config_args = _safe(layout.config_args)
    try:
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(directory, trust_remote_code=trust_remote_code, **tokenizer_args)
            config = AutoConfig.from_pretrained(directory, trust_remote_code=trust_remote_code, **config_args)
            model_class = transformers.AutoModelForMaskedLM if masked_lm else _model_class(config.model_type)
            transformer, info = model_class.from_pretrained(
                directory,
                config=config,
                use_safetensors=use_safetensors,
                trust_remote_code=trust_remote_code,
                # Only eager attention returns the weights that cls_attention pooling reads.
                attn_implementation="eager" if eager_attention else None,
                output_loading_info=True,
            )
    except Exception as err:  # noqa: BLE001 - corrupt or foreign checkpoints fail in many library-specific ways
        raise ModelLoadError(f"could not load the transformer in {directory}: {first_line(err)}") from None
    missing = sorted(k for k in info.get("missing_keys", ()) if not k.startswith(OPTIONAL_WEIGHTS))
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ModelLoadError(f"the weights in {directory} do not fit its config: missing {shown}")
    check_vocabulary(tokenizer, transformer, directory)
    return transformer.float(), tokenizer


def check_remote_code(directory: Path, trust_remote_code: bool) -> None:
    """Refuse, in one line, a model whose architecture exists only as Python code shipped with its files."""
    from transformers import CONFIG_MAPPING

    config_path = directory / "config.json"
    if trust_remote_code or not config_path.is_file():
        return
    config = read_json(config_path)
    if isinstance(config, dict) and "auto_map" in config and config.get("model_type") not in CONFIG_MAPPING:
        raise ModelLoadError(
            f"{directory} needs trust_remote_code: its architecture ({config.get('model_type')}) is Python code "
            "shipped with the model, which embedlab does not run unless you pass trust_remote_code=True"
        )


def check_vocabulary(tokenizer, transformer: nn.Module, directory: Path) -> None:
    """A tokenizer with more ids than the embedding table would index past it on some texts."""
    table = transformer.get_input_embeddings()
    rows = getattr(table, "num_embeddings", None)
    if rows is not None and len(tokenizer) > rows:
        raise ModelLoadError(
            f"the tokenizer in {directory} has {len(tokenizer)} tokens but the model's embedding table only {rows}"
        )


def _model_class(model_type: str):
    import transformers

    return getattr(transformers, ENCODER_ONLY_CLASSES.get(model_type, "AutoModel"))


def _safe(arguments: dict) -> dict:
    """Settings arguments without those that could fetch or run code, and without dtypes (embedlab loads fp32)."""
    dropped = UNSAFE_ARGUMENTS + ("torch_dtype", "dtype", "device_map")
    return {k: v for k, v in arguments.items() if k not in dropped}
