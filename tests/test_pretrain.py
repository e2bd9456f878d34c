"""MLM pretraining: BERT's 80/10/10 masking rule, the corpus without evaluation texts, tiny real runs."""

from __future__ import annotations

import inspect
import itertools
import json
import signal
from dataclasses import fields, replace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file
from typer.testing import CliRunner

from embedlab import EmbedlabError, Encoder
from embedlab.cli.pretrain import pretrain as pretrain_command
from embedlab.training import mlm
from embedlab.training.mlm import REPORT_FILE, PretrainConfig, pretrain
from embedlab.training.mlm_data import IGNORE, epoch_batches, mask_batch, mask_tokens, pad_windows, token_windows
from embedlab.training.pretrain_corpus import build_corpus, text_key
from tests.files import write_jsonl

MASK_ID, VOCAB = 103, 30522


# ---- masking -----------------------------------------------------------------------------------


def test_masking_picks_15_percent_and_splits_them_80_10_10():
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 2000, (500, 200), generator=generator)
    inputs, labels = mask_tokens(ids, torch.zeros_like(ids, dtype=torch.bool), MASK_ID, VOCAB, 0.15, generator)
    picked = labels != IGNORE
    # 100,000 tokens: the picked share has a standard deviation of 0.0011, each 80/10/10 share under 0.004.
    assert abs(picked.float().mean().item() - 0.15) < 0.005
    assert torch.equal(labels[picked], ids[picked])
    assert torch.equal(inputs[~picked], ids[~picked])
    masked = inputs[picked] == MASK_ID
    kept = inputs[picked] == ids[picked]
    randomised = ~masked & ~kept
    assert abs(masked.float().mean().item() - 0.8) < 0.02
    assert abs(kept.float().mean().item() - 0.1) < 0.015
    assert abs(randomised.float().mean().item() - 0.1) < 0.015
    # Random replacements come from the whole vocabulary, not from the batch.
    replacements = inputs[picked][randomised]
    assert replacements.unique().numel() > 1000 and (replacements >= 2000).float().mean() > 0.9


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    rows=st.integers(1, 6),
    length=st.integers(1, 40),
    prob=st.floats(0.01, 0.99),
)
def test_special_positions_are_never_picked_and_others_change_only_when_picked(seed, rows, length, prob):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 2000, (rows, length), generator=generator)
    special = torch.rand(ids.shape, generator=generator) < 0.4
    inputs, labels = mask_tokens(ids, special, MASK_ID, VOCAB, prob, generator)
    picked = labels != IGNORE
    assert not (picked & special).any()
    assert torch.equal(inputs[special], ids[special]) and torch.equal(inputs[~picked], ids[~picked])
    assert torch.equal(labels[picked], ids[picked])


def test_real_batches_never_mask_cls_sep_or_padding(minilm):
    tokenizer = minilm.tokenizer
    windows = token_windows(["a short one", "a somewhat longer sentence than the first one is"], tokenizer, 16)
    ids, attention = pad_windows(windows, tokenizer.pad_token_id)
    assert (attention == 0).any()  # the short window really is padded
    inputs, labels = mask_batch(ids, tokenizer, 0.99, torch.Generator().manual_seed(0))
    special = torch.isin(ids, torch.tensor([tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id]))
    assert (labels[special] == IGNORE).all() and torch.equal(inputs[special], ids[special])
    assert (labels[~special] != IGNORE).float().mean() > 0.9


# ---- windows and batches ----------------------------------------------------------------------


def test_long_texts_become_windows_that_lose_no_token(minilm):
    tokenizer = minilm.tokenizer
    text = " ".join(f"word{i}" for i in range(60))
    windows = token_windows([text, "short"], tokenizer, max_length=32)
    assert all(len(w) <= 32 and w[0] == tokenizer.cls_token_id and w[-1] == tokenizer.sep_token_id for w in windows)
    body = [int(t) for w in windows[:-1] for t in w[1:-1]]
    assert body == tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(windows[-1]) == 3  # "short" alone


def test_epoch_batches_cover_every_window_once_with_little_padding():
    lengths = np.random.default_rng(0).integers(3, 128, size=1000)
    batches = epoch_batches(lengths, batch_size=32, seed=1, epoch=0)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    # Similar lengths share a batch: the spreads of all batches together fit in the overall range.
    assert sum(int(lengths[b].max() - lengths[b].min()) for b in batches) <= lengths.max() - lengths.min()
    again = epoch_batches(lengths, batch_size=32, seed=1, epoch=0)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    next_epoch = epoch_batches(lengths, batch_size=32, seed=1, epoch=1)
    assert not all(np.array_equal(a, b) for a, b in zip(batches, next_epoch))


def test_config_rejects_impossible_shapes():
    with pytest.raises(EmbedlabError, match="multiple of heads"):
        PretrainConfig(hidden=100, heads=3)
    with pytest.raises(EmbedlabError, match="mask_prob"):
        PretrainConfig(mask_prob=1.5)


# ---- the corpus --------------------------------------------------------------------------------


def write_beir(root, name, docs, queries, qrels) -> None:
    write_jsonl(
        root / "beir" / name / "corpus.jsonl", [{"_id": i, "title": t, "text": x} for i, (t, x) in docs.items()]
    )
    write_jsonl(root / "beir" / name / "queries.jsonl", [{"_id": i, "text": x} for i, x in queries.items()])
    for split, pairs in qrels.items():
        path = root / "beir" / name / "qrels" / f"{split}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, d in pairs))


def pairs(*sentences: str) -> list[dict]:
    return [{"sentence1": a, "sentence2": b, "score": 1.0, "label": 1} for a, b in zip(sentences[::2], sentences[1::2])]


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    """A miniature data root with one text of each kind; the evaluation texts reappear in training files."""
    root = tmp_path / "data"
    write_jsonl(root / "sts/stsb/train.jsonl", pairs("A man plays a guitar .", "Train one.", "Train two.", "train ONE"))
    write_jsonl(root / "sts/stsb/dev.jsonl", pairs("Dev sentence.", "Dev other."))
    write_jsonl(root / "sts/stsb/test.jsonl", pairs("A man plays a guitar.", "Test other."))
    write_jsonl(
        root / "pairs/mrpc/train.jsonl", pairs("Mrpc train.", "Dev sentence.", "What is an atom ?", "Mrpc two.")
    )
    write_jsonl(root / "pairs/mrpc/test.jsonl", pairs("Mrpc test one.", "Mrpc test two."))
    write_jsonl(root / "nli/pairs.jsonl.gz", [{"premise": "Two dogs run .", "hypothesis": "Mrpc test one"}])
    for name, text in (("trec", "What is an atom?"), ("banking77", "Card lost"), ("sst2", "a gorgeous film")):
        write_jsonl(root / f"classification/{name}/test.jsonl", [{"text": text, "label": 0}])
    write_beir(
        root,
        "scifact",
        {"d1": ("Title", "Abstract body."), "d2": ("", "No title here.")},
        {"q1": "Train claim.", "q2": "Test claim.", "q3": "Unjudged claim."},
        {"train": [("q1", "d1")], "test": [("q2", "d2")]},
    )
    write_beir(root, "cranfield", {"1": ("Wings", "Flow over wings.")}, {"1": "Card lost"}, {"test": [("1", "1")]})
    monkeypatch.setenv("EMBEDLAB_DATA", str(root))
    return root


def test_corpus_removes_every_evaluation_text_and_duplicate(data_root):
    corpus = build_corpus()
    keys = {text_key(text) for text in corpus.texts}
    evaluation = [
        "A man plays a guitar.",
        "Dev sentence.",
        "What is an atom?",
        "Mrpc test one.",
        "Card lost",
        "Test claim.",
        "Unjudged claim.",
    ]
    assert not keys & {text_key(text) for text in evaluation}
    assert corpus.texts == [
        "Train one.",
        "Train two.",
        "Mrpc train.",
        "Mrpc two.",
        "Two dogs run .",
        "Title Abstract body.",
        "No title here.",
        "Wings Flow over wings.",
        "Train claim.",
    ]
    report = corpus.report
    assert report["sources"]["sts/stsb/train.jsonl"] == {"read": 4, "evaluation": 1, "duplicate": 1, "kept": 2}
    assert report["sources"]["pairs/mrpc/train.jsonl"] == {"read": 4, "evaluation": 2, "duplicate": 0, "kept": 2}
    assert report["removed_as_evaluation_text"] == 4 and report["duplicates_removed"] == 1
    assert report["texts"] == 9
    assert report["evaluation_texts"]["beir/scifact/queries.jsonl (not train-only)"] == 2
    assert report["evaluation_texts"]["beir/cranfield/queries.jsonl (not train-only)"] == 1


def test_text_key_ignores_case_spacing_and_punctuation():
    assert text_key("Two women are embracing .") == text_key("two  women are Embracing.")
    assert text_key("...") == ""


def test_an_empty_data_root_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDLAB_DATA", str(tmp_path))
    with pytest.raises(EmbedlabError, match="no pretraining text"):
        build_corpus()


# ---- tiny real runs ----------------------------------------------------------------------------

ANIMALS = ["cat", "dog", "bird", "fox", "horse", "mouse"]
VERBS = ["sees", "chases", "likes", "finds", "hears"]
THINGS = ["tree", "house", "lake", "river", "stone", "road"]


@pytest.fixture
def toy_root(tmp_path, monkeypatch):
    """180 sentences over a 20-word vocabulary: enough pattern for a tiny model to learn in a few steps."""
    sentences = [f"the {a} {v} the {t}." for a in ANIMALS for v in VERBS for t in THINGS]
    write_jsonl(tmp_path / "data/sts/stsb/train.jsonl", pairs(*sentences))
    monkeypatch.setenv("EMBEDLAB_DATA", str(tmp_path / "data"))
    return sentences


def tiny_config(out, **changes) -> PretrainConfig:
    tiny = PretrainConfig(
        out=str(out),
        layers=2,
        hidden=32,
        heads=2,
        intermediate=64,
        max_length=16,
        batch_size=16,
        learning_rate=5e-3,
        warmup_fraction=0.1,
        max_steps=30,
        max_minutes=30,
        log_every=5,
        threads=1,
    )
    return replace(tiny, **changes)


def test_tiny_run_lowers_the_loss_and_saves_an_encoder(toy_root, tmp_path, capsys):
    threads = torch.get_num_threads()
    out = pretrain(tiny_config(tmp_path / "mlm"))
    assert torch.get_num_threads() == threads  # the run's own thread count does not leak out
    report = json.loads((out / REPORT_FILE).read_text())
    assert report["steps"] == 30 and report["tokens_seen"] > 30 * 16 * 3
    curve = report["loss_curve"]
    assert [point["step"] for point in curve] == [5, 10, 15, 20, 25, 30]
    assert all(0 <= point["accuracy"] <= 1 and point["tokens_per_second"] > 0 for point in curve)
    assert curve[-1]["accuracy"] > curve[0]["accuracy"]
    assert report["final_loss"] < report["first_loss"] - 2  # from ~ln(30522) = 10.3 towards the toy vocabulary
    assert report["corpus"]["texts"] == len(toy_root) and report["windows"]["held_out"] == 1
    assert 0 <= report["held_out"]["mlm_accuracy"] <= 1 and report["torch_threads"] >= 1
    encoder = Encoder.load(out, pooling="mean")
    vectors = encoder.encode(["the cat sees the tree.", "a dog"])
    assert vectors.shape == (2, 32) and np.isfinite(vectors).all()
    # A finished run leaves no checkpoint behind: running it again starts afresh.
    assert encoder.max_seq_length == 16 and not (out / "checkpoint").exists()
    # Not on a terminal (pytest captures stderr), so the loss lines are plain text, one per log interval.
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in lines[:6]] == ["5/30", "10/30", "15/30", "20/30", "25/30", "30/30"]
    assert all(" loss " in line and " accuracy " in line and " steps/s" in line for line in lines[:6])
    assert "held-out mlm_accuracy" in lines[-1]


def test_an_interrupted_run_continues_exactly(toy_root, tmp_path, monkeypatch):
    pretrain(tiny_config(tmp_path / "whole", max_steps=8, log_every=2))
    real_loss, calls = mlm.mlm_loss, []

    def ctrl_c_during_step_4(*args):
        calls.append(1)
        if len(calls) == 4:
            signal.raise_signal(signal.SIGINT)  # as a Ctrl-C would: the step still ends, then the run stops
        return real_loss(*args)

    monkeypatch.setattr(mlm, "mlm_loss", ctrl_c_during_step_4)
    with pytest.raises(KeyboardInterrupt):
        pretrain(tiny_config(tmp_path / "split", max_steps=8, log_every=2))
    monkeypatch.setattr(mlm, "mlm_loss", real_loss)
    assert (tmp_path / "split" / "checkpoint").is_dir() and not (tmp_path / "split" / REPORT_FILE).exists()
    with pytest.raises(EmbedlabError, match="layers"):
        pretrain(tiny_config(tmp_path / "split", max_steps=8, log_every=2, layers=1))
    torch.manual_seed(999)  # the resumed run must take its random state from the checkpoint, not from here
    pretrain(tiny_config(tmp_path / "split", max_steps=8, log_every=2))
    whole_report, split_report = (
        json.loads((tmp_path / name / REPORT_FILE).read_text()) for name in ("whole", "split")
    )
    assert split_report["resumed_from_step"] == 4 and split_report["steps"] == 8
    assert split_report["tokens_seen"] == whole_report["tokens_seen"]
    assert [p["loss"] for p in split_report["loss_curve"]] == [p["loss"] for p in whole_report["loss_curve"]]
    whole, split = (load_file(tmp_path / name / "model.safetensors") for name in ("whole", "split"))
    assert whole.keys() == split.keys() and all(torch.equal(whole[key], split[key]) for key in whole)


def test_the_time_budget_stops_a_run_and_still_saves_it(toy_root, tmp_path, monkeypatch):
    clock = itertools.count(0.0, 0.5)  # a fake clock, each reading half a second on: the test never waits
    monkeypatch.setattr(mlm.time, "perf_counter", lambda: next(clock))
    out = pretrain(tiny_config(tmp_path / "timed", max_steps=None, max_minutes=0.25))
    report = json.loads((out / REPORT_FILE).read_text())
    # Only the 15-second budget can end a run without max_steps; its last step still closes the curve.
    assert 1 <= report["steps"] < 30 and report["loss_curve"][-1]["step"] == report["steps"]
    assert report["train_minutes"] >= 0.25 and (out / "model.safetensors").is_file()


# ---- the command -------------------------------------------------------------------------------


def test_command_options_are_the_config_fields():
    parameters = inspect.signature(pretrain_command).parameters
    assert list(parameters) == [field.name for field in fields(PretrainConfig)]
    defaults = PretrainConfig()
    assert all(parameters[name].default.default == getattr(defaults, name) for name in parameters)


def test_command_trains_and_prints_a_summary(toy_root, tmp_path):
    import typer

    app = typer.Typer()
    app.command()(pretrain_command)
    out = tmp_path / "cli"
    options = [
        "--out",
        str(out),
        "--layers",
        "1",
        "--hidden",
        "32",
        "--heads",
        "2",
        "--intermediate",
        "64",
        "--max-length",
        "16",
        "--max-steps",
        "4",
        "--log-every",
        "2",
        "--bf16",
        "--threads",
        "1",
    ]
    result = CliRunner().invoke(app, options)
    assert result.exit_code == 0, result.output
    assert "step 4" in result.output and f"wrote {out}: 4 steps" in result.output.replace("\n", "")
    report = json.loads((out / REPORT_FILE).read_text())
    assert report["config"]["bf16"] is True and report["torch_threads"] == 1
