"""The word memo must give exactly the Rust tokenizer's ids, on any text, or step aside."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from embedlab.models.wordpiece_cache import CachedWordPiece


@pytest.fixture(scope="module")
def bert_tokenizer(minilm_path) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(Path(minilm_path) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def rust_ids(tokenizer: Tokenizer, texts: list[str]) -> list[list[int]]:
    return [encoding.ids for encoding in tokenizer.encode_batch(texts, add_special_tokens=False)]


# Letters, accents, CJK, Greek, controls, odd spaces, punctuation of every script, and BERT's special tokens.
PIECES = st.sampled_from(
    [
        "Hello",
        "WORLD",
        "don't",
        "e-mail",
        "3.14",
        "naïve",
        "Ærø",
        "İstanbul",
        "ΟΔΟΣ",
        "中文字",
        "β-cell",
        "≥5",
        "–",
        "“quoted”",
        "\u00a0",
        "\u2028",
        "\t",
        "\n",
        "\x00",
        "\x07",
        "\ufffd",
        "\u200b",
        "e\u0301",
        "ﬁne",
        "[SEP]",
        "[cls]",
        "##ing",
        "x" * 120,
        "😀",
        "…",
        "¿qué?",
        "ǅ",
        "\x1c",
        "\u0085",
        " ",
    ]
)
TEXTS = st.lists(st.one_of(PIECES, st.text(max_size=12)), max_size=12).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXTS, min_size=1, max_size=6))
def test_ids_equal_the_rust_tokenizer_on_any_text(bert_tokenizer, texts):
    memo = CachedWordPiece.for_tokenizer(bert_tokenizer)
    assert memo.ids(texts) == rust_ids(bert_tokenizer, texts)
    assert memo.ids(texts) == rust_ids(bert_tokenizer, texts)  # again, now from the memo


def test_real_sentences_match_and_words_are_memoised(bert_tokenizer):
    texts = [
        "The quick brown fox jumps over the lazy dog.",
        "Tumour-suppressor genes (e.g. p53) – a review",
        "CAFÉ au lait",
    ]
    memo = CachedWordPiece.for_tokenizer(bert_tokenizer)
    assert memo.ids(texts) == rust_ids(bert_tokenizer, texts)
    assert {"quick", "cafe", "p53", "–"} <= set(memo._pieces)  # accents stripped, as BertNormalizer does


def test_special_tokens_in_text_are_left_to_the_tokenizer(bert_tokenizer):
    memo = CachedWordPiece.for_tokenizer(bert_tokenizer)
    sep = bert_tokenizer.token_to_id("[SEP]")
    assert memo.ids(["first [SEP] second"])[0].count(sep) == 1


def test_other_tokenizers_get_no_memo(bert_tokenizer):
    spec = json.loads(bert_tokenizer.to_str())
    spec["pre_tokenizer"] = {"type": "Whitespace"}
    assert CachedWordPiece.for_tokenizer(Tokenizer.from_str(json.dumps(spec))) is None
    spec = json.loads(bert_tokenizer.to_str())
    spec["added_tokens"].append(
        {**spec["added_tokens"][-1], "id": 30522, "content": "protein", "special": False, "normalized": True}
    )
    assert CachedWordPiece.for_tokenizer(Tokenizer.from_str(json.dumps(spec))) is None
