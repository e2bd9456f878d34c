"""Tiny random sequence-classification models saved by sentence-transformers itself, in each CrossEncoder format.

BERT reads MiniLM's WordPiece vocabulary; XLM-R a small Unigram tokenizer trained here on CORPUS, as XLM-R's own
is a SentencePiece Unigram. Weights start wide (initializer_range) so that scores differ visibly between pairs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    XLMRobertaConfig,
    XLMRobertaForSequenceClassification,
)

CORPUS = [
    "the cat sat on the mat and the dog slept by the door",
    "a quick brown fox jumps over the lazy dog near the river",
    "über die straße läuft ein kleiner hund",
    "le chat dort sur le tapis pendant que la pluie tombe",
    "東京の天気は晴れです",
    "snow falls on the hills while the wind blows through the city",
    "markets fell as investors sold stocks and bought bonds",
    "she plays the piano and he plays the violin in the evening",
]
XLMR_MAX_LENGTH = 40


def xlmr_tokenizer():
    """An XLM-R tokenizer (<s> A </s></s> B </s>) with a Unigram vocabulary trained on CORPUS."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import XLMRobertaTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    backend = Tokenizer(models.Unigram())
    backend.normalizer = normalizers.NFKC()
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    backend.decoder = decoders.Metaspace()
    backend.train_from_iterator(
        CORPUS * 4, trainers.UnigramTrainer(vocab_size=200, special_tokens=specials, unk_token="<unk>")
    )
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return XLMRobertaTokenizerFast(tokenizer_object=backend, model_max_length=XLMR_MAX_LENGTH)


def tiny_bert_classifier(vocab_size: int, num_labels: int = 1, seed: int = 0, **config: Any):
    torch.manual_seed(seed)
    settings = {
        "hidden_size": 32,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 64,
        "num_hidden_layers": 2,
        "initializer_range": 0.3,
    }
    config = BertConfig(vocab_size=vocab_size, num_labels=num_labels, **(settings | config))
    return BertForSequenceClassification(config)


def tiny_xlmr_classifier(vocab_size: int, num_labels: int = 1, seed: int = 0):
    torch.manual_seed(seed)
    config = XLMRobertaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_attention_heads=2,
        intermediate_size=64,
        num_hidden_layers=2,
        max_position_embeddings=XLMR_MAX_LENGTH + 2,
        type_vocab_size=1,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        initializer_range=0.3,
        num_labels=num_labels,
    )
    return XLMRobertaForSequenceClassification(config)


def save_hf(model, tokenizer, path: Path) -> Path:
    """A plain Hugging Face sequence-classification directory (what sentence-transformers before v4 wrote)."""
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def save_by_sentence_transformers(model, tokenizer, path: Path, **kwargs: Any) -> Path:
    """The v6 CrossEncoder directory sentence-transformers writes for the model (kwargs: activation_fn, ...)."""
    from sentence_transformers import CrossEncoder

    plain = save_hf(model, tokenizer, path.with_name(path.name + "-hf"))
    CrossEncoder(str(plain), device="cpu", **kwargs).save(str(path))
    return path


def edit_json(path: Path, **changes: Any) -> None:
    """Set (or, with None, remove) top-level keys of a JSON file, as an older version or a broken file would."""
    content = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            content.pop(key, None)
        else:
            content[key] = value
    path.write_text(json.dumps(content))


def bert_cross_encoder_dir(tokenizer, path: Path, num_labels: int = 1, seed: int = 0, **kwargs: Any) -> Path:
    return save_by_sentence_transformers(
        tiny_bert_classifier(len(tokenizer), num_labels, seed), tokenizer, path, **kwargs
    )
