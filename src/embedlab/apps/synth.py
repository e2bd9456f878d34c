"""Synthetic training pairs: a chat model writes the search queries each passage of a corpus answers.

(query, passage) pairs let `embedlab train` adapt a retriever to a domain that has documents but no queries.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from embedlab.apps.chat_client import ChatClient, ChatConfig
from embedlab.data.beir import doc_text
from embedlab.data.corpus import read_corpus
from embedlab.errors import EmbedlabError
from embedlab.progress import progress_bar

PROMPT = """Write {n} different search queries that the passage below answers.
Each query is what someone looking for this passage would type into a search engine: a question or a few \
keywords, specific enough that this passage is a good result, and not copied word for word from it.
Reply with the queries only, one per line, without numbering, quotes or any other text.

Passage:
{passage}"""
# List markers, "Query 2:" labels and emphasis that models put around queries despite the prompt.
MARKER = re.compile(r"^(?:[-•]+\s+|\(?\d+[.):]\s+|(?:q|query)\s*\d*\s*[:.)]\s*)", re.IGNORECASE)
WRAPPING = " \t\"'`*“”‘’"


@dataclass(frozen=True)
class SynthConfig:
    """`per_passage` queries asked of each of the first `limit` passages (all when None); output is appended
    every `batch_size` passages; queries over `max_query_words` words are dropped as not being queries."""

    per_passage: int = 3
    limit: int | None = None
    batch_size: int = 8
    max_query_words: int = 32

    def __post_init__(self) -> None:
        if min(self.per_passage, self.batch_size, self.max_query_words) < 1 or (
            self.limit is not None and self.limit < 0
        ):
            raise EmbedlabError(
                f"need per_passage, batch_size, max_query_words >= 1 and limit >= 0, got {self.per_passage}, "
                f"{self.batch_size}, {self.max_query_words}, {self.limit}"
            )


@dataclass(frozen=True)
class SynthReport:
    """Passages considered, those already done by an earlier run, pairs written now, passages with no usable query."""

    passages: int
    skipped: int
    pairs: int
    without_queries: int


def synthesize(
    corpus: str | os.PathLike,
    out: str | os.PathLike,
    chat: ChatConfig,
    config: SynthConfig = SynthConfig(),
    show_progress: bool = True,
) -> SynthReport:
    """Ask `chat` for queries per passage of `corpus` and append {"anchor", "positive", "passage_id"} rows to `out`.

    Resumable: passages whose id is already in `out` are skipped. Rows are appended a batch at a time with
    one write each; a line torn by a crash mid-write is removed on the next run. A passage that got no usable
    query is not recorded, so a rerun asks again.
    """
    out = Path(out)
    documents = read_corpus(corpus)[: config.limit]
    done = done_passages(out)
    todo = [doc for doc in documents if doc.id not in done]
    client = ChatClient(chat)
    pairs = without_queries = 0
    with progress_bar(len(todo), "writing queries", show_progress) as advance:
        for start in range(0, len(todo), config.batch_size):
            rows = []
            for doc in todo[start : start + config.batch_size]:
                passage = doc_text(doc.title or "", doc.text)
                reply = client.ask(PROMPT.format(n=config.per_passage, passage=passage))
                queries = parse_queries(reply, config.per_passage, config.max_query_words)
                rows += [{"anchor": query, "positive": passage, "passage_id": doc.id} for query in queries]
                without_queries += not queries
                advance(1)
            _append(out, rows)
            pairs += len(rows)
    return SynthReport(len(documents), len(documents) - len(todo), pairs, without_queries)


def parse_queries(reply: str, count: int, max_words: int) -> list[str]:
    """Up to `count` queries from a reply, one per line: markers and quotes stripped, reasoning blocks,
    headers ("Here are three queries:"), empty, overlong and repeated (ignoring case) lines dropped."""
    reply = re.sub(r"<think>.*?</think>", "", reply, flags=re.DOTALL)
    queries: dict[str, str] = {}
    for line in reply.splitlines():
        query = " ".join(MARKER.sub("", line.strip(WRAPPING)).strip(WRAPPING).split())
        if query and not query.endswith(":") and len(query.split()) <= max_words:
            queries.setdefault(query.casefold(), query)
    return list(queries.values())[:count]


def done_passages(out: Path) -> set[str]:
    """Ids of the passages an earlier run wrote to `out`, after cutting off a torn last line."""
    if not out.exists():
        return set()
    content = out.read_bytes()
    if content and not content.endswith(b"\n"):
        content = content[: content.rfind(b"\n") + 1]
        with out.open("r+b") as handle:
            handle.truncate(len(content))
    done = set()
    for number, line in enumerate(content.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            passage_id = json.loads(line).get("passage_id")
        except (json.JSONDecodeError, AttributeError):
            raise EmbedlabError(f"{out}:{number} is not a JSON object") from None
        if not isinstance(passage_id, str):
            raise EmbedlabError(
                f"{out}:{number} has no passage_id: not written by embedlab synth; choose another --out"
            )
        done.add(passage_id)
    return done


def _append(out: Path, rows: Sequence[dict]) -> None:
    """One write per batch, synced, so a crash loses at most the batch in flight."""
    if not rows:
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a", encoding="utf-8") as handle:
        handle.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        handle.flush()
        os.fsync(handle.fileno())
