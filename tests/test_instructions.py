"""Instructions as query prompts: templates filled with a task, per call or saved with the model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from embedlab import Encoder, StaticEncoder
from embedlab.errors import EmbedlabError, ModelLoadError
from embedlab.instructions import (
    DEFAULT_TEMPLATE,
    instruction_prompt,
    set_default_task,
    template_from_prompt,
)
from embedlab.models.two_tower import TwoTowerEncoder
from tests.fakes import HashingEncoder

QWEN3_PROMPT = "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:"
TASK = "Given a claim, find documents that support or refute it"
TASKS = st.text(min_size=1).filter(str.strip)
TEMPLATES = st.tuples(st.text(), st.text()).map(lambda parts: parts[0] + "{task}" + parts[1])


@given(TEMPLATES, TASKS)
def test_a_filled_template_holds_the_task_verbatim_between_its_two_parts(template: str, task: str) -> None:
    head, tail = template.split("{task}")
    prompt = instruction_prompt(template, task)
    assert prompt.startswith(head) and prompt.endswith(tail)
    assert prompt[len(head) : len(prompt) - len(tail)] == task  # braces and format fields in a task stay as typed


@given(TASKS)
def test_the_instruct_query_shape_gives_back_the_template_it_was_filled_from(task: str) -> None:
    for template in (DEFAULT_TEMPLATE, "Instruct: {task}\nQuery:"):
        assert template_from_prompt(instruction_prompt(template, task)) == template


def test_real_models_query_prompts_give_their_templates() -> None:
    assert template_from_prompt(QWEN3_PROMPT) == "Instruct: {task}\nQuery:"  # Qwen3-Embedding: no space
    assert template_from_prompt("query: ") is None  # E5: a fixed prefix, no instruction
    assert template_from_prompt("Represent this sentence for searching relevant passages: ") is None  # BGE


@pytest.mark.parametrize("template", ["Instruct: task\nQuery: ", "{task} and {task}", None, 3, b"{task}"])
def test_a_template_without_one_task_field_is_refused(template) -> None:
    with pytest.raises(EmbedlabError, match="instruction template must be a string with"):
        instruction_prompt(template, TASK)


@pytest.mark.parametrize("task", ["", "  \n", 3, ["a task"], b"a task"])
def test_a_task_that_is_not_a_non_blank_string_is_refused(task, tiny_encoder) -> None:
    with pytest.raises(EmbedlabError, match="instruction task must be a non-blank string"):
        tiny_encoder.encode_queries(["q"], task=task)


def test_a_task_fills_the_default_template_on_a_model_without_one(tiny_encoder: Encoder) -> None:
    texts = ["what is an atom?", "unicode ☃ query"]
    expected = tiny_encoder.encode(texts, prompt=f"Instruct: {TASK}\nQuery: ")
    np.testing.assert_allclose(tiny_encoder.encode_queries(texts, task=TASK), expected, atol=1e-6)
    np.testing.assert_allclose(tiny_encoder.encode_queries(texts), tiny_encoder.encode(texts), atol=1e-6)
    assert tiny_encoder.query_prompt_for(None) == tiny_encoder.query_prompt == ""


def test_a_model_with_an_instruct_query_prompt_fills_its_own_template(tiny_encoder: Encoder) -> None:
    tiny_encoder.layout.prompts = {"query": QWEN3_PROMPT, "document": ""}
    assert tiny_encoder.query_prompt_for(None) == QWEN3_PROMPT
    assert tiny_encoder.query_prompt_for(TASK) == f"Instruct: {TASK}\nQuery:"
    assert tiny_encoder.document_prompt == ""


def test_a_saved_task_and_template_survive_save_and_sentence_transformers(tiny_encoder: Encoder, tmp_path) -> None:
    template = "Task: {task} | query: "
    set_default_task(tiny_encoder, TASK, template)
    tiny_encoder.save(tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config_sentence_transformers.json").read_text())
    assert config["prompts"]["query"] == f"Task: {TASK} | query: "
    assert config["instruction_template"] == template
    loaded = Encoder.load(tmp_path / "model", device="cpu")
    assert loaded.query_prompt_for("Other task") == "Task: Other task | query: "
    texts = ["a short query", "a much longer query " * 5]
    ours = loaded.encode_queries(texts)
    np.testing.assert_allclose(ours, loaded.encode(texts, prompt=f"Task: {TASK} | query: "), atol=1e-6)
    sentence_transformers = pytest.importorskip("sentence_transformers")
    theirs = sentence_transformers.SentenceTransformer(str(tmp_path / "model"), device="cpu")
    np.testing.assert_allclose(theirs.encode(texts, prompt_name="query"), ours, atol=1e-5)


def test_a_saved_task_keeps_the_models_own_template(tiny_encoder: Encoder) -> None:
    tiny_encoder.layout.prompts = {"query": QWEN3_PROMPT}
    set_default_task(tiny_encoder, TASK)
    assert tiny_encoder.query_prompt == f"Instruct: {TASK}\nQuery:"


def test_a_broken_saved_template_is_refused_at_load(tiny_encoder: Encoder, tmp_path) -> None:
    tiny_encoder.save(tmp_path / "model")
    path = tmp_path / "model" / "config_sentence_transformers.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | {"instruction_template": "no field"}))
    with pytest.raises(ModelLoadError, match="config_sentence_transformers.json: an instruction template"):
        Encoder.load(tmp_path / "model", device="cpu")


def test_every_model_kind_takes_a_task(tiny_encoder: Encoder) -> None:
    prompt = f"Instruct: {TASK}\nQuery: "
    static = StaticEncoder(["cat", "instruct"], np.eye(2, dtype=np.float32))
    np.testing.assert_allclose(static.encode_queries(["cat"], task=TASK), static.encode([prompt + "cat"]))
    two_tower = TwoTowerEncoder.from_encoder(tiny_encoder)
    set_default_task(two_tower, TASK)
    assert two_tower.query_prompt == prompt and two_tower.document_prompt == ""
    np.testing.assert_allclose(two_tower.encode_queries(["cat"]), tiny_encoder.encode(["cat"], prompt=prompt), 1e-5)
    fake = HashingEncoder()
    fake.encode_queries(["cat"], task=TASK)
    assert fake.calls[-1] == [prompt + "cat"]
    with pytest.raises(EmbedlabError, match="StaticEncoder keeps no prompts"):
        set_default_task(static, TASK)


@pytest.fixture(scope="module")
def tiny_qwen3(tmp_path_factory):
    """The Qwen3-Embedding family's tiny model (tests/model_families.py), saved by sentence-transformers."""
    pytest.importorskip("sentence_transformers")
    from tests.model_families import qwen3_lasttoken

    return qwen3_lasttoken(tmp_path_factory.mktemp("qwen3") / "model")


QUERIES = ["what is a cat?", "", "ünïcödé ☃ 中文", "a much longer query about the stock market " * 6, "short"]


def test_a_qwen3_models_task_gives_sentence_transformers_vectors_for_the_filled_prompt(tiny_qwen3) -> None:
    from sentence_transformers import SentenceTransformer

    ours, theirs = Encoder.load(tiny_qwen3, device="cpu"), SentenceTransformer(str(tiny_qwen3), device="cpu")
    filled = template_from_prompt(ours.query_prompt).replace("{task}", TASK)  # the template the model came with
    assert filled.startswith(f"Instruct: {TASK}\nQuery:")
    worst = [
        np.abs(ours.encode_queries(QUERIES, task=TASK) - theirs.encode(QUERIES, prompt=filled)).max(),
        np.abs(ours.encode_queries(QUERIES) - theirs.encode_query(QUERIES)).max(),
        np.abs(ours.encode_documents(QUERIES) - theirs.encode_document(QUERIES)).max(),
    ]
    assert max(worst) <= 1e-5, worst


def test_a_qwen3_models_saved_task_is_sentence_transformers_query_prompt(tiny_qwen3, tmp_path) -> None:
    from sentence_transformers import SentenceTransformer

    model = Encoder.load(tiny_qwen3, device="cpu")
    set_default_task(model, TASK)
    model.save(tmp_path / "claims")
    theirs = SentenceTransformer(str(tmp_path / "claims"), device="cpu")
    template = template_from_prompt(Encoder.load(tiny_qwen3, device="cpu").query_prompt)
    assert theirs.prompts["query"] == template.replace("{task}", TASK)
    reloaded = Encoder.load(tmp_path / "claims", device="cpu")
    np.testing.assert_allclose(reloaded.encode_queries(QUERIES), theirs.encode_query(QUERIES), atol=1e-5)
    assert reloaded.query_prompt_for("Other") == template.replace("{task}", "Other")


def test_a_two_tower_models_saved_task_and_template_survive_its_router_directory(tiny_encoder, tmp_path) -> None:
    model = TwoTowerEncoder.from_encoder(tiny_encoder)
    set_default_task(model, TASK, "Task: {task} | query: ")
    loaded = TwoTowerEncoder.load(model.save(tmp_path / "towers"), device="cpu")
    assert loaded.query_prompt == f"Task: {TASK} | query: " and loaded.document_prompt == ""
    assert loaded.query_prompt_for("Other") == "Task: Other | query: "
    np.testing.assert_allclose(loaded.encode_queries(["cat"]), model.encode_queries(["cat"]), atol=1e-6)
