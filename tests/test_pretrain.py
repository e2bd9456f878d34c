"""MLM pretraining: BERT's 80/10/10 masking rule, the corpus without evaluation texts, a tiny real run."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from embedlab import Encoder
from embedlab.training.mlm import IGNORE, PretrainConfig, chunk_token_ids, mask_tokens, pretrain
from embedlab.training.pretrain_corpus import build_corpus

MASK_ID, VOCAB = 103, 30522


def test_masking_follows_the_80_10_10_rule():
    ids = torch.randint(1000, 2000, (400, 100))
    special = torch.zeros_like(ids, dtype=torch.bool)
    inputs, labels = mask_tokens(ids, special, MASK_ID, VOCAB, 0.15, torch.Generator().manual_seed(0))
    chosen = labels != IGNORE
    assert 0.14 < chosen.float().mean() < 0.16
    assert torch.equal(labels[chosen], ids[chosen])
    as_mask = (inputs[chosen] == MASK_ID).float().mean()
    unchanged = (inputs[chosen] == ids[chosen]).float().mean()
    assert 0.78 < as_mask < 0.82 and 0.08 < unchanged < 0.12 + 0.01  # random draws can also hit the same token
    assert torch.equal(inputs[~chosen], ids[~chosen])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), length=st.integers(2, 40))
def test_special_tokens_and_padding_are_never_masked(seed, length):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 2000, (8, length), generator=generator)
    special = torch.rand(ids.shape, generator=generator) < 0.5
    inputs, labels = mask_tokens(ids, special, MASK_ID, VOCAB, 0.9, generator)
    assert (labels[special] == IGNORE).all() and torch.equal(inputs[special], ids[special])


def test_long_texts_become_several_windows(minilm):
    windows = chunk_token_ids(["word " * 100, "short"], minilm.tokenizer, max_length=32)
    assert len(windows) == 5 and all(len(w) <= 32 for w in windows)
    assert all(w[0] == minilm.tokenizer.cls_token_id and w[-1] == minilm.tokenizer.sep_token_id for w in windows)


def write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def tiny_root(tmp_path, monkeypatch):
    root = tmp_path / "data"
    sentences = [f"the {a} sat near the {b} today" for a in ("cat", "dog", "bird", "fox") for b in ("tree", "house", "lake")]
    write_jsonl(root / "sts/stsb/train.jsonl", [{"sentence1": s, "sentence2": s.upper(), "score": 3.0} for s in sentences])
    write_jsonl(root / "sts/stsb/test.jsonl", [{"sentence1": sentences[0], "sentence2": "held out", "score": 1.0}])
    write_jsonl(root / "classification/trec/test.jsonl", [{"text": sentences[1], "label": 0}])
    monkeypatch.setenv("EMBEDLAB_DATA", str(root))
    return root, sentences


def test_corpus_drops_evaluation_texts_and_duplicates(tiny_root):
    _, sentences = tiny_root
    texts, report = build_corpus()
    assert sentences[0] not in texts and sentences[1] not in texts and "held out" not in texts
    assert set(sentences[2:]) <= set(texts) and len(texts) == len(set(texts))
    assert report["removed_as_evaluation_text"] == 2


def test_tiny_pretraining_learns_and_saves_a_loadable_encoder(tiny_root, tmp_path):
    config = PretrainConfig(out=str(tmp_path / "mlm"), layers=1, hidden=32, heads=2, intermediate=64, max_length=16,
                            batch_size=8, learning_rate=3e-3, max_steps=40, max_minutes=10, mask_prob=0.3)
    out = pretrain(config)
    report = json.loads((out / "pretrain_report.json").read_text())
    assert report["steps"] == 40 and report["loss_end"] < report["loss_start"]
    vectors = Encoder.load(out, pooling="mean").encode(["the cat sat", "a dog"])
    assert vectors.shape == (2, 32) and torch.isfinite(torch.from_numpy(vectors)).all()
