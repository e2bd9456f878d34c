"""Retrieval-augmented answers: an index's best chunks become numbered sources for a chat model to cite.

Without a chat endpoint the answer is extracted instead (the retrieved sentences nearest the question), so it
works offline; evaluate_rag_retrieval measures the retriever half on qrels.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from embedlab.apps.chat_client import ChatClient, ChatConfig
from embedlab.data.corpus import TokenSpans, token_spans
from embedlab.embedder import Embedder
from embedlab.errors import EmbedlabError
from embedlab.index.index import Index, Reranker
from embedlab.similarity import cosine_similarity

MODES = ("dense", "bm25", "hybrid")
SYSTEM_PROMPT = (
    "You answer questions using only the numbered sources you are given. After each statement, cite the "
    "sources that support it by their numbers in square brackets, like [1] or [2][3]. If the sources do not "
    "contain the answer, say that they do not."
)
NO_SOURCES = "No indexed passage matches the question."


@dataclass(frozen=True)
class RagConfig:
    """How an answer is made: `k` chunks retrieved in `mode` (a reranker, when given, reorders the first
    `rerank_top`), at most `context_tokens` tokens of them in the prompt, then `chat` writes the answer or,
    without one, the `sentences` retrieved sentences closest to the question make it up."""

    k: int = 5
    mode: str = "hybrid"
    rerank_top: int = 100
    context_tokens: int = 2000
    sentences: int = 3
    snippet_chars: int = 160
    chat: ChatConfig | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise EmbedlabError(f"unknown retrieval mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if min(self.k, self.rerank_top, self.context_tokens, self.sentences, self.snippet_chars) < 1:
            raise EmbedlabError(
                f"k, rerank_top, context_tokens, sentences and snippet_chars must be >= 1, got {self.k}, "
                f"{self.rerank_top}, {self.context_tokens}, {self.sentences}, {self.snippet_chars}"
            )


class Citation(NamedTuple):
    """Source [number] of an answer: the chunk it came from and the start of its text."""

    number: int
    doc_id: str
    chunk_id: Any
    snippet: str


@dataclass(frozen=True)
class RagAnswer:
    """The answer, its numbered sources, the user prompt that holds them, and how the answer was made."""

    answer: str
    citations: list[Citation]
    prompt: str
    mode: str  # "generated" (by the chat endpoint) or "extractive"


class Source(NamedTuple):
    """A retrieved chunk as it goes into the prompt: possibly cut to fit the token budget."""

    hit: Any
    text: str


def answer(question: str, index: Index, config: RagConfig = RagConfig(), reranker: Reranker | None = None) -> RagAnswer:
    """Answer `question` from `index` (an embedlab Index): retrieve, number the sources, generate or extract.

    Tokens are counted with the index encoder's tokenizer when it has one (`index.encoder.tokenizer`), else
    as whitespace-separated words. Sources go in rank order until the budget is spent; the one that crosses
    it is cut at the budget and no later one is added.
    """
    if not question.strip():
        raise EmbedlabError("the question is empty")
    hits = retrieve([question], index, config, reranker, config.k)[0]
    sources = fit_to_budget(hits, token_spans(index.encoder.tokenizer), config.context_tokens)
    prompt = build_prompt(question, sources)
    citations = [
        Citation(number, source.hit.doc_id, source.hit.chunk_id, _snippet(source.text, config.snippet_chars))
        for number, source in enumerate(sources, start=1)
    ]
    if config.chat is not None:
        reply = ChatClient(config.chat).ask(prompt, system=SYSTEM_PROMPT)
        return RagAnswer(reply.strip(), citations, prompt, "generated")
    return RagAnswer(
        extractive_answer(question, sources, index.encoder, config.sentences), citations, prompt, "extractive"
    )


def retrieve(
    questions: Sequence[str], index: Index, config: RagConfig, reranker: Reranker | None, k: int
) -> list[list[Any]]:
    """The top k chunks per question, as the RAG config searches them."""
    return index.search(list(questions), k=k, mode=config.mode, reranker=reranker, rerank_top=max(config.rerank_top, k))


def fit_to_budget(hits: Sequence[Any], spans: TokenSpans, budget: int) -> list[Source]:
    """The hits' texts in order while `budget` tokens last; the one that crosses it is cut at the budget."""
    sources: list[Source] = []
    for hit in hits:
        offsets = spans(hit.text)
        if len(offsets) <= budget:
            sources.append(Source(hit, hit.text))
            budget -= len(offsets)
            continue
        if budget:
            sources.append(Source(hit, hit.text[: offsets[budget - 1][1]]))
        break
    return sources


def build_prompt(question: str, sources: Sequence[Source]) -> str:
    """The user message: the numbered sources, then the question."""
    listed = "\n\n".join(f"[{number}] {' '.join(source.text.split())}" for number, source in enumerate(sources, 1))
    return f"Sources:\n\n{listed or '(none)'}\n\nQuestion: {question.strip()}\n\nAnswer with citations:"


def extractive_answer(question: str, sources: Sequence[Source], encoder: Embedder, count: int) -> str:
    """The `count` sentences of the sources most similar to the question (cosine of their embeddings), best
    first, each followed by its source number."""
    numbered = {}
    for number, source in enumerate(sources, start=1):
        for sentence in split_sentences(source.text):
            numbered.setdefault(sentence, number)
    if not numbered:
        return NO_SOURCES
    sentences = list(numbered)
    scores = cosine_similarity(encoder.encode_queries(question), encoder.encode_documents(sentences))
    best = np.argsort(-scores, kind="stable")[:count]
    return " ".join(f"{sentences[i]} [{numbered[sentences[i]]}]" for i in best)


def split_sentences(text: str) -> list[str]:
    """Sentences split after ., ! or ? followed by whitespace, whitespace collapsed."""
    return [" ".join(s.split()) for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def evaluate_rag_retrieval(
    index: Index,
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    ks: Sequence[int] = (1, 5, 10, 20),
    config: RagConfig = RagConfig(),
    reranker: Reranker | None = None,
) -> dict[str, float]:
    """Mean recall@k over the judged queries: the share of a query's relevant documents (relevance > 0) that
    own at least one of the k chunks the RAG retriever returns, i.e. that the prompt of a k-source answer
    would quote. A query without relevant documents scores 0, as in trec_eval."""
    if not ks or min(ks) < 1:
        raise EmbedlabError(f"ks must be cutoffs >= 1, got {tuple(ks)}")
    missing = [query_id for query_id in qrels if query_id not in queries]
    if missing:
        raise EmbedlabError(f"{len(missing)} judged queries have no text (first: {missing[0]!r})")
    query_ids = list(qrels)
    ranked = retrieve([queries[q] for q in query_ids], index, config, reranker, max(ks))
    recall = {k: 0.0 for k in ks}
    for query_id, hits in zip(query_ids, ranked):
        relevant = {doc for doc, grade in qrels[query_id].items() if grade > 0}
        for k in ks:
            found = relevant & {hit.doc_id for hit in hits[:k]}
            recall[k] += len(found) / len(relevant) if relevant else 0.0
    return {f"recall@{k}": total / max(1, len(query_ids)) for k, total in recall.items()}


def _snippet(text: str, chars: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= chars else text[: chars - 1].rstrip() + "…"
