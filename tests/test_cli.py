"""The `embedlab` command: each subcommand's output, and one-line errors instead of tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from typer.testing import CliRunner

from embedlab.cli.app import app
from embedlab.demo import DEMO_PAIRS, UNRELATED_PAIRS, run_demo
from embedlab.models.loading import load_model
from embedlab.models.static_encoder import StaticEncoder

runner = CliRunner()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """The installed entry point in a fresh process, as a user would run it."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "embedlab", *args], capture_output=True, text=True, env=env, check=False
    )


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("info", "encode", "similarity", "demo"):
        assert command in result.output


def test_info_shows_dims_and_parameters():
    result = runner.invoke(app, ["info", "minilm"])
    assert result.exit_code == 0, result.output
    assert "384" in result.output and "22713216" in result.output and "mean" in result.output


def test_encode_txt_matches_the_python_api(tmp_path, minilm):
    texts = ["first line", "second line", ""]
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(texts) + "\n")
    out = tmp_path / "out" / "emb.npy"
    result = runner.invoke(app, ["encode", "--input", str(source), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert np.abs(np.load(out) - minilm.encode(texts)).max() < 1e-6


def test_encode_jsonl_with_prompt_pooling_and_dim(tmp_path, minilm_path):
    from embedlab import Encoder

    source = tmp_path / "docs.jsonl"
    source.write_text("\n".join(json.dumps({"_id": str(i), "text": t}) for i, t in enumerate(["alpha", "beta"])))
    out = tmp_path / "emb.npy"
    args = ["encode", "-i", str(source), "-o", str(out), "--pooling", "max", "--prompt", "query: ", "--dim", "32"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    expected = Encoder.load(minilm_path, pooling="max").encode(["alpha", "beta"], prompt="query: ", dim=32)
    assert np.load(out).shape == (2, 32)
    assert np.abs(np.load(out) - expected).max() < 1e-6


def test_similarity_prints_cosine_and_band():
    result = runner.invoke(app, ["similarity", "The cat sleeps on the sofa.", "The stock market fell sharply today."])
    assert result.exit_code == 0, result.output
    assert "cosine" in result.output and "unrelated" in result.output


def test_bad_input_file_is_one_line_not_a_traceback(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{broken\n')
    result = run_cli("encode", "-i", str(bad), "-o", str(tmp_path / "x.npy"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (
        result.stderr.strip() == f"error: {bad}:2 is not valid JSON: Expecting property name enclosed in double quotes"
    )
    assert not (tmp_path / "x.npy").exists()


def test_missing_model_is_one_line(tmp_path):
    result = run_cli("info", str(tmp_path / "nowhere"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "no model directory" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_glove_file_works_wherever_a_model_name_does(tmp_path):
    glove = tmp_path / "tiny.txt"
    glove.write_text("cat 1 0\ndog 0.9 0.1\nmarket 0 1\n")
    model = load_model(str(glove))
    assert isinstance(model, StaticEncoder) and model.dim == 2
    result = runner.invoke(app, ["similarity", "cat", "dog", "--model", str(glove)])
    assert result.exit_code == 0 and "paraphrase" in result.output


def test_demo_shows_the_narrow_cone_of_untrained_pooling():
    result = run_demo()
    random_bert, minilm = result.scores["random BERT + mean"], result.scores["all-MiniLM-L6-v2"]
    assert len(minilm) == len(DEMO_PAIRS)
    assert min(random_bert) > 0.8  # everything looks alike without training
    assert result.spread("random BERT + mean") < 0.1 < result.spread("all-MiniLM-L6-v2")
    assert max(minilm[i] for i in UNRELATED_PAIRS) < 0.3
    assert minilm[0] > 0.6  # the restaurant/eatery paraphrase


def test_demo_command_prints_the_table(monkeypatch):
    from embedlab import demo

    fake = demo.DemoResult(pairs=list(DEMO_PAIRS), scores={"model": [0.9, 0.7, 0.5, 0.1, 0.6, 0.0]})
    monkeypatch.setattr(demo, "run_demo", lambda: fake)
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "cat / stock market" in result.output and "0.900" in result.output and "spread" in result.output


def test_bad_dim_reported(tmp_path):
    source = tmp_path / "t.txt"
    source.write_text("x\n")
    result = run_cli("encode", "-i", str(source), "-o", str(tmp_path / "o.npy"), "--dim", "0")
    assert result.returncode == 1 and "dim must be an integer" in result.stderr
