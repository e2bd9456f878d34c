"""Corpus encoding with a worker pool: input order kept, chunks reused on resume, foreign folders refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from embedlab.cli.app import app
from embedlab.errors import EmbedlabError
from embedlab.models.loading import load_model
from embedlab.models.static_encoder import StaticEncoder
from embedlab.scale.bulk import MANIFEST, BulkConfig, encode_corpus

WORDS = ["the", "cat", "dog", "sat", "ran", "mat", "fast", "slow"]


@pytest.fixture(scope="module")
def static_model(tmp_path_factory, minilm) -> str:
    """A small sub-word static model on disk, quick for worker processes to load."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(minilm.tokenizer.backend_tokenizer.to_str())
    tokenizer.no_padding()
    tokenizer.no_truncation()
    words = [w for w, _ in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])]
    vectors = np.random.default_rng(0).normal(size=(len(words), 16)).astype(np.float32)
    path = tmp_path_factory.mktemp("bulk") / "static"
    return str(StaticEncoder(words, vectors, tokenizer=tokenizer).save(path))


def texts(n: int) -> list[str]:
    rng = np.random.default_rng(1)
    return [" ".join(rng.choice(WORDS, size=rng.integers(1, 12))) for _ in range(n)]


def test_pool_keeps_input_order(static_model, tmp_path) -> None:
    corpus = texts(50)
    config = BulkConfig(model=static_model, workers=2, chunk_size=7)
    got = encode_corpus(corpus, tmp_path / "parts", config)
    np.testing.assert_allclose(got, load_model(static_model).encode(corpus), atol=1e-6)
    assert len(list((tmp_path / "parts").glob("chunk-*.npy"))) == 8


def test_rerun_reuses_written_chunks(static_model, tmp_path) -> None:
    corpus = texts(20)
    config = BulkConfig(model=static_model, workers=1, chunk_size=10)
    parts = tmp_path / "parts"
    encode_corpus(corpus, parts, config)
    marker = np.full((10, 16), 7.0, dtype=np.float32)
    np.save(parts / "chunk-000000.npy", marker)  # as if an earlier run wrote it
    (parts / "chunk-000001.npy").unlink()  # as if the run died before this chunk
    seen = []
    got = encode_corpus(corpus, parts, BulkConfig(model=static_model, workers=2, chunk_size=10), on_chunk=seen.append)
    np.testing.assert_array_equal(got[:10], marker)  # kept, not recomputed
    np.testing.assert_allclose(got[10:], load_model(static_model).encode(corpus[10:]), atol=1e-6)
    assert sum(seen) == 20


def test_another_jobs_folder_is_refused(static_model, tmp_path) -> None:
    parts = tmp_path / "parts"
    encode_corpus(texts(5), parts, BulkConfig(model=static_model, workers=1))
    assert json.loads((parts / MANIFEST).read_text())["texts"] == 5
    with pytest.raises(EmbedlabError, match="another job"):
        encode_corpus(texts(6), parts, BulkConfig(model=static_model, workers=1))
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(EmbedlabError, match="not a chunk folder"):
        encode_corpus(texts(5), other, BulkConfig(model=static_model, workers=1))


def test_bad_settings_are_one_line_errors() -> None:
    with pytest.raises(EmbedlabError, match="workers"):
        BulkConfig(workers=0)
    with pytest.raises(EmbedlabError, match="chunk_size"):
        BulkConfig(chunk_size=-1)


def test_encode_cli_with_workers_writes_the_same_matrix(static_model, tmp_path) -> None:
    corpus = texts(30)
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(corpus) + "\n")
    out = tmp_path / "emb.npy"
    args = ["encode", "-i", str(source), "-o", str(out), "-m", static_model, "--workers", "2", "--chunk-size", "8"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(out), load_model(static_model).encode(corpus), atol=1e-6)
    assert not (tmp_path / "emb.npy.parts").exists()  # chunk files go once the matrix is saved
