"""Corpus files and token-aware chunking: every format, every file error on one line, windows that tile a text."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedlab.data.corpus import ChunkConfig, Document, chunk_document, read_corpus, token_spans
from embedlab.errors import EmbedlabError
from tests.files import write_jsonl

WORDS = token_spans(None)


def test_jsonl_ids_titles_and_metadata(tmp_path):
    path = write_jsonl(
        tmp_path / "c.jsonl",
        [
            {"_id": "a", "title": "T", "text": "first", "lang": "en", "year": 2020},
            {"id": 7, "text": "second", "draft": True},
        ],
    )
    assert read_corpus(path) == [
        Document("a", "first", "T", {"lang": "en", "year": 2020}),
        Document("7", "second", "", {"draft": True}),
    ]
    assert read_corpus(write_jsonl(tmp_path / "b.jsonl", [{"_id": "x", "body": "hi"}]), field="body")[0].text == "hi"


def test_beir_directories_and_text_files(tmp_path):
    write_jsonl(tmp_path / "beir" / "corpus.jsonl", [{"_id": "d1", "title": "", "text": "abstract"}])
    assert read_corpus(tmp_path / "beir") == [Document("d1", "abstract")]
    (tmp_path / "lines.txt").write_text("one\n\ntwo\r\n")
    assert read_corpus(tmp_path / "lines.txt") == [Document("1", "one"), Document("3", "two")]


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"_id": "a", "text": "x"}\n{"_id": "b", "text": \n', r"c\.jsonl:2 is not valid JSON"),
        ('{"text": "x"}\n', r"c\.jsonl:1 is not a JSON object with a string or integer '_id' or 'id'"),
        ('{"_id": "a", "text": 5}\n', "no string field 'text'"),
        ('{"_id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n', "repeats the id 'a'"),
        ('{"_id": "a", "text": "x", "tags": ["p", "q"]}\n', "metadata field 'tags' must be a string"),
        ("\n\n", "holds no documents"),
    ],
)
def test_file_errors_name_the_line(tmp_path, content, message):
    (tmp_path / "c.jsonl").write_text(content)
    with pytest.raises(EmbedlabError, match=message):
        read_corpus(tmp_path / "c.jsonl")


def test_a_missing_file():
    with pytest.raises(EmbedlabError, match="no corpus file"):
        read_corpus("/nonexistent/corpus.jsonl")


def test_bad_chunk_settings():
    with pytest.raises(EmbedlabError, match="overlap < max_tokens"):
        ChunkConfig(max_tokens=10, overlap=10)
    with pytest.raises(EmbedlabError, match="max_tokens >= 1"):
        ChunkConfig(max_tokens=0, overlap=0)


def test_a_short_document_stays_whole():
    doc = Document("d", "  short text  ", "Title", {"k": 1})
    (chunk,) = chunk_document(doc, WORDS, ChunkConfig(5, 1))
    assert (chunk.id, chunk.text, chunk.start, chunk.end, chunk.encoded_text()) == (
        "d#0",
        doc.text,
        0,
        14,
        "Title   short text",
    )  # BEIR: (title + " " + text).strip()


@settings(max_examples=150, deadline=None)
@given(
    words=st.lists(st.text(alphabet="abcxyz.,", min_size=1, max_size=6), min_size=1, max_size=80),
    gaps=st.sampled_from([" ", "  ", "\n", " \t "]),
    max_tokens=st.integers(1, 20),
    data=st.data(),
)
def test_windows_tile_the_text_with_the_asked_overlap(words, gaps, max_tokens, data):
    overlap = data.draw(st.integers(0, max_tokens - 1))
    text = gaps.join(words)
    chunks = chunk_document(Document("d", text), WORDS, ChunkConfig(max_tokens, overlap))
    spans = WORDS(text)
    assert all(text[c.start : c.end] == c.text for c in chunks)
    assert [c.number for c in chunks] == list(range(len(chunks)))
    tokens = [[s for s in spans if c.start <= s[0] and s[1] <= c.end] for c in chunks]
    assert all(len(t) <= max_tokens for t in tokens)
    if len(chunks) > 1:
        assert tokens[0][0] == spans[0] and tokens[-1][-1] == spans[-1]
        assert all(len(set(a) & set(b)) == overlap for a, b in itertools.pairwise(tokens))


def test_real_tokenizer_offsets_point_into_the_text(minilm):
    text = "Tokenization splits unbelievably long words into pieces."
    spans = token_spans(minilm.tokenizer)(text)
    assert len(spans) > len(text.split())  # word pieces
    assert "".join(text[a:b] for a, b in spans) == text.replace(" ", "")
    chunks = chunk_document(Document("d", text), token_spans(minilm.tokenizer), ChunkConfig(4, 1))
    assert all(text[c.start : c.end] == c.text for c in chunks) and len(chunks) > 1
