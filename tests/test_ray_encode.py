"""Corpus encoding on Ray Data: equal to Encoder.encode in input order, resumable, bulk's files; one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

from embedlab.cli.app import app, main
from embedlab.errors import EmbedlabError
from embedlab.scale.bulk import BulkConfig, encode_corpus
from embedlab.scale.ray_cluster import import_ray
from embedlab.scale.ray_encode import RayRunner, _whole_chunks

ATOL = 1e-5  # chunks are batched differently from one encode call; the vectors agree to float rounding


def corpus(n: int) -> list[str]:
    """Texts of very different lengths, so length-sorted batching inside a chunk would show if order slipped."""
    topics = ["cats and dogs", "the stock market"]
    return [f"text {i}: " + " ".join(topics[i % 2] for _ in range(1 + i % 9)) for i in range(n)]


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module (2 CPUs: the two actors); every Ray process it started is gone after."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_job_keeps_input_order_and_resumes(local_ray, minilm, tmp_path) -> None:
    texts = corpus(20)
    parts = tmp_path / "parts"
    got = encode_corpus(texts, parts, BulkConfig(workers=2, chunk_size=5), runner=RayRunner())
    np.testing.assert_allclose(got, minilm.encode(texts), atol=ATOL)
    assert sorted(p.name for p in parts.glob("chunk-*.npy")) == [f"chunk-{i:06d}.npy" for i in range(4)]

    marker = np.full((5, 384), 7.0, dtype=np.float32)
    np.save(parts / "chunk-000000.npy", marker)  # as if an earlier run wrote it
    (parts / "chunk-000002.npy").unlink()  # as if the run died before this chunk
    seen: list[int] = []
    again = encode_corpus(texts, parts, BulkConfig(workers=2, chunk_size=5), on_chunk=seen.append, runner=RayRunner())
    np.testing.assert_array_equal(again[:5], marker)  # kept, not recomputed
    np.testing.assert_allclose(again[10:15], minilm.encode(texts[10:15]), atol=ATOL)
    assert seen == [15, 5]  # the chunks already on disk, then the one Ray encoded


def test_cli_encode_on_ray_writes_bulks_output(local_ray, minilm, tmp_path) -> None:
    texts = corpus(13)
    source, output = tmp_path / "texts.txt", tmp_path / "vectors.npy"
    source.write_text("\n".join(texts) + "\n", encoding="utf-8")
    args = ["encode", "-i", str(source), "-o", str(output), "--ray", "local", "--workers", "2", "--chunk-size", "4"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "wrote 13 x 384 embeddings" in result.output and "on Ray" in result.output
    np.testing.assert_allclose(np.load(output), minilm.encode(texts), atol=ATOL)
    assert not (tmp_path / "vectors.npy.parts").exists()  # chunks go once the .npy is written, as with --workers


def test_an_actor_that_cannot_load_the_model_is_a_one_line_error(local_ray, tmp_path) -> None:
    config = BulkConfig(model=str(tmp_path / "no-such-model"), workers=1)
    with pytest.raises(EmbedlabError, match=r"^the Ray job failed: \S*ModelLoadError: no model directory at"):
        encode_corpus(corpus(3), tmp_path / "parts", config, runner=RayRunner())


def test_chunks_are_put_together_from_split_out_of_order_batches() -> None:
    """Ray may split a chunk's rows over batches and return chunks in any order; each row lands in its place."""
    vectors = {0: np.arange(12, dtype=np.float32).reshape(4, 3), 1: -np.arange(6, dtype=np.float32).reshape(2, 3)}

    def batch(rows: list[tuple[int, int]]) -> dict[str, np.ndarray]:
        chunk, row = (np.array(column) for column in zip(*rows))
        return {"chunk": chunk, "row": row, "embedding": np.stack([vectors[c][r] for c, r in rows])}

    batches = [batch([(0, 3), (1, 1)]), batch([(1, 0), (0, 1)]), batch([(0, 0), (0, 2)])]
    done = list(_whole_chunks(batches, {0: 4, 1: 2}))
    assert [index for index, _ in done] == [1, 0]  # each written as soon as it is whole
    for index, got in done:
        np.testing.assert_array_equal(got, vectors[index])


def test_missing_ray_is_a_one_line_install_hint(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where the extra is not installed
    with pytest.raises(EmbedlabError, match=r"pip install 'embedlab\[ray\]'"):
        import_ray()
    source = tmp_path / "texts.txt"
    source.write_text("one\n", encoding="utf-8")
    argv = ["embedlab", "encode", "-i", str(source), "-o", str(tmp_path / "v.npy"), "--ray", "local"]
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)  # main() installs its own; put it back after
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 1
    assert capsys.readouterr().err.strip() == (
        "error: running on Ray needs ray, which is not installed: pip install 'embedlab[ray]'"
    )


def test_unreachable_cluster_is_a_one_line_error(tmp_path) -> None:
    pytest.importorskip("ray")
    source = tmp_path / "texts.txt"
    source.write_text("one\ntwo\n", encoding="utf-8")
    args = ["encode", "-i", str(source), "-o", str(tmp_path / "v.npy"), "--ray", "127.0.0.1:1"]
    done = subprocess.run(
        [sys.executable, "-m", "embedlab", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: no Ray cluster answers at 127.0.0.1:1"), done.stderr
    assert "Traceback" not in done.stderr
