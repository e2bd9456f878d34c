"""Every place that takes a cross-encoder accepts one saved by sentence-transformers and scores as it does:
`eval retrieval --rerank`, the index's rerank, mining's judge and the server's /v1/rerank."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
import torch
from scipy.special import expit
from typer.testing import CliRunner

from embedlab.cli.app import app
from embedlab.data.corpus import Document
from embedlab.index import Index
from embedlab.models.cross_encoder import load_reranker
from embedlab.server import ServerConfig
from embedlab.server.launch import ServedModels, build_app
from tests.fakes import HashingEncoder
from tests.files import write_tiny_beir
from tests.server.conftest import WAIT_S, running
from tests.test_cli import run_cli
from tests.tiny_cross_encoders import bert_cross_encoder_dir

st = pytest.importorskip("sentence_transformers")
runner = CliRunner()
DOCUMENTS = [
    Document("guitar", "A man is playing a guitar on the stage."),
    Document("piano", "She plays the piano every evening."),
    Document("stocks", "The stock market fell sharply today."),
]


@pytest.fixture(scope="module")
def st_dir(tmp_path_factory, tokenizer):
    return bert_cross_encoder_dir(tokenizer, tmp_path_factory.mktemp("st-ce") / "ce", seed=1)


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory, tokenizer):
    return bert_cross_encoder_dir(tokenizer, tmp_path_factory.mktemp("st-nli") / "ce", num_labels=3)


def st_logits(path, pairs) -> np.ndarray:
    return st.CrossEncoder(str(path), device="cpu").predict(pairs, activation_fn=torch.nn.Identity())


@pytest.fixture
def tiny_beir(tmp_path):
    write_tiny_beir(tmp_path / "beir")
    return tmp_path / "beir"


def test_eval_retrieval_reranks_with_a_sentence_transformers_cross_encoder(st_dir, tiny_beir, tmp_path):
    out = tmp_path / "r.json"
    result = runner.invoke(
        app,
        [
            "eval",
            "retrieval",
            "-d",
            str(tiny_beir),
            "--rerank",
            str(st_dir),
            "--rerank-top",
            "2",
            "--no-cache",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["settings"]["rerank_top"] == 2


def test_index_search_reranks_by_the_sentence_transformers_scores(st_dir):
    index = Index.build(HashingEncoder(), DOCUMENTS, model_name="hashing")
    hits = index.search("who plays music", k=3, reranker=load_reranker(st_dir), rerank_top=3)
    texts = [d.text for d in DOCUMENTS]
    expected = st_logits(st_dir, [("who plays music", t) for t in texts])
    assert [h.doc_id for h in hits] == [DOCUMENTS[i].id for i in np.argsort(-expected, kind="stable")]
    np.testing.assert_allclose(sorted(h.score for h in hits), sorted(expected), atol=1e-5)


def test_the_server_reranks_with_a_sentence_transformers_cross_encoder(st_dir, minilm_path):
    documents = [d.text for d in DOCUMENTS]
    app_ = build_app(ServedModels(model=minilm_path, reranker=st_dir), ServerConfig())
    with running(app_) as (url, _):
        body = httpx.post(f"{url}/v1/rerank", json={"query": "music", "documents": documents}, timeout=WAIT_S).json()
    logits = st_logits(st_dir, [("music", d) for d in documents])
    assert [r["index"] for r in body["results"]] == list(np.argsort(-logits, kind="stable"))
    np.testing.assert_allclose([r["relevance_score"] for r in body["results"]], np.sort(expit(logits))[::-1], atol=1e-5)


def test_mining_judges_with_a_sentence_transformers_cross_encoder(st_dir, tiny_beir, tmp_path):
    (tiny_beir / "qrels/train.tsv").write_text((tiny_beir / "qrels/test.tsv").read_text())
    done = run_cli(
        "mine",
        "-d",
        str(tiny_beir),
        "-o",
        str(tmp_path / "m.jsonl"),
        "--count",
        "1",
        "--window",
        "1",
        "3",
        "--no-margin",
        "--judge",
        str(st_dir),
        "--judge-threshold",
        "1.0",
    )
    assert done.returncode == 0, done.stderr
    assert len((tmp_path / "m.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize(
    "command",
    [
        ["eval", "retrieval", "-d", "{beir}", "--rerank", "{ce}"],
        ["mine", "-d", "{beir}", "-o", "{out}", "--judge", "{ce}"],
    ],
)
def test_a_classifier_with_several_labels_is_refused_in_one_line(command, classifier_dir, tiny_beir, tmp_path):
    (tiny_beir / "qrels/train.tsv").write_text((tiny_beir / "qrels/test.tsv").read_text())
    fill = {"beir": str(tiny_beir), "ce": str(classifier_dir), "out": str(tmp_path / "m.jsonl")}
    done = run_cli(*[part.format(**fill) for part in command])
    assert done.returncode == 1 and "num_labels=1" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
