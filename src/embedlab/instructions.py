"""Instructions as query prompts: "Instruct: {task}\\nQuery: " filled with a task (Qwen3-Embedding, e5-mistral).

Such models embed a query after a one-sentence description of the search task, and documents with no
instruction. The template is the model's (saved as `instruction_template` in config_sentence_transformers.json,
or read off a query prompt of the "Instruct: ...\\nQuery:" shape); a model with neither gets DEFAULT_TEMPLATE.
The model's query prompt stays the template filled with its default task, so sentence-transformers, which
knows no templates, embeds queries exactly as embedlab does.
"""

from __future__ import annotations

import re
from typing import Any

from embedlab.errors import EmbedlabError

TASK_FIELD = "{task}"
DEFAULT_TEMPLATE = "Instruct: {task}\nQuery: "
# The shape Qwen3-Embedding ("...\nQuery:") and e5-mistral ("...\nQuery: ") save as their query prompt.
_INSTRUCT_PROMPT = re.compile(r"(Instruct: ?)(.+)(\nQuery:\s*)", re.DOTALL)


def check_template(template: Any) -> str:
    """The template itself, or a one-line error unless it is a string holding {task} exactly once."""
    if not isinstance(template, str) or template.count(TASK_FIELD) != 1:
        raise EmbedlabError(f"an instruction template must be a string with {TASK_FIELD} once, got {template!r}")
    return template


def check_task(task: Any) -> str:
    """The task itself, or a one-line error unless it is a non-blank string."""
    if not isinstance(task, str) or not task.strip():
        raise EmbedlabError(f"an instruction task must be a non-blank string, got {task!r}")
    return task


def instruction_prompt(template: str, task: str) -> str:
    """The template with its {task} replaced (replace, not str.format, so braces in either are kept)."""
    return check_template(template).replace(TASK_FIELD, check_task(task))


def template_from_prompt(prompt: str) -> str | None:
    """The template a query prompt of the "Instruct: <task>\\nQuery:" shape was filled from, else None."""
    match = _INSTRUCT_PROMPT.fullmatch(prompt)
    return f"{match[1]}{TASK_FIELD}{match[3]}" if match else None


def model_template(saved: str | None, query_prompt: str) -> str | None:
    """A model's own template: the saved one, else the one its query prompt was filled from, else None."""
    return check_template(saved) if saved is not None else template_from_prompt(query_prompt)


def query_prompt_for(query_prompt: str, saved_template: str | None, task: str | None) -> str:
    """What goes before each query: the model's query prompt when no task is given, else the model's template
    (model_template; DEFAULT_TEMPLATE when it has none) filled with the task."""
    if task is None:
        return query_prompt
    return instruction_prompt(model_template(saved_template, query_prompt) or DEFAULT_TEMPLATE, task)


class LayoutInstructions:
    """Encoder's query_prompt_for, for a model keeping its prompts and saved template in its `layout`."""

    query_prompt: str
    layout: Any

    def query_prompt_for(self, task: str | None) -> str:
        """The query prompt, or the model's instruction template filled with `task`."""
        return query_prompt_for(self.query_prompt, self.layout.instruction_template, task)


def set_default_task(model: Any, task: str, template: str | None = None) -> None:
    """Make `task` what a transformer or two-tower model's encode_queries uses when given none, kept by save.

    The query prompt becomes the filled template, so sentence-transformers embeds queries the same way; the
    template (given, the model's own or DEFAULT_TEMPLATE) is saved beside it for tasks given later.
    """
    encoder = getattr(model, "query_encoder", model)
    layout = getattr(encoder, "layout", None)
    if layout is None:
        raise EmbedlabError(f"a {type(model).__name__} keeps no prompts: only transformer and two-tower models do")
    if template is None:
        template = model_template(layout.instruction_template, encoder.query_prompt) or DEFAULT_TEMPLATE
    layout.prompts = {**layout.prompts, "query": instruction_prompt(template, task)}
    layout.instruction_template = template


def encode_for_task(model: Any, texts: list[str], task: str | None, **options: Any) -> Any:
    """Texts of a symmetric task (STS, pairs, clustering, classification) as instruction-tuned models are
    evaluated (MTEB): every text a query for `task`; without a task, plain `encode`."""
    return model.encode(texts, **options) if task is None else model.encode_queries(texts, task=task, **options)


def task_setting(task: str | None) -> dict[str, str]:
    """What an evaluation result's settings record of a task: nothing when none was given."""
    return {} if task is None else {"task": task}
