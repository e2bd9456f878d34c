"""Late chunking (models/late_chunking.py): chunk vectors pooled from one reading of the whole document."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from embedlab import ChunkEmbedder, EmbedlabError
from embedlab.data.corpus import ChunkConfig, Document
from embedlab.index.index import Index, IndexConfig
from embedlab.models.dense import Dense
from embedlab.models.late_chunking import best_windows
from embedlab.models.two_tower import TwoTowerEncoder
from tests.fakes import HashingEncoder
from tests.tiny_models import make_tiny_encoder

DOC = "Berlin is the capital of Germany. It has 3.8 million inhabitants. The city is known for its museums."
CITY = "The city is known for its museums."
LONG = " ".join(f"Sentence {i} talks about topic {i % 7} and more." for i in range(40))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_a_whole_document_chunk_is_its_ordinary_embedding(minilm):
    late = minilm.encode_chunks([DOC, CITY], [[(0, len(DOC))], [(0, len(CITY))]])
    np.testing.assert_allclose(np.vstack(late), minilm.encode_documents([DOC, CITY]), atol=1e-5)


@pytest.mark.parametrize("include_prompt", [True, False])
def test_prompt_head_and_normalisation_match_encode(tiny_encoder, include_prompt):
    tiny_encoder.layout.prompts = {"document": "passage: "}
    tiny_encoder.pooling.include_prompt = include_prompt
    tiny_encoder.model.head = torch.nn.ModuleList([Dense(32, 16)])
    text = "Cats purr when they are happy."
    late = tiny_encoder.encode_chunks([text], [[(0, len(text))]], normalize=False)[0]
    np.testing.assert_allclose(late[0], tiny_encoder.encode_documents(text, normalize=False), atol=1e-5)
    assert late.shape == (1, 16)


def test_chunk_vectors_carry_their_documents_context(minilm):
    first = "Berlin is the capital of Germany. "
    other = "Bananas are rich in potassium. "
    late = [
        minilm.encode_chunks([prefix + CITY], [[(len(prefix), len(prefix) + len(CITY))]])[0][0]
        for prefix in (first, other)
    ]
    # Ordinary chunking reads the chunk alone: the same text gives the same vector whatever surrounds it.
    assert cosine(*late) < 0.99
    berlin = minilm.encode_queries("Which city in Germany has famous museums?")
    assert cosine(late[0], berlin) > cosine(late[1], berlin)


def test_the_first_and_last_windows_read_what_a_cut_document_reads(tiny_encoder):
    """Past max_seq_length (32 tokens here) each token comes from its best window; at the document's edges that
    is the first or last window, which reads exactly what the document cut to that window's text reads."""
    ids = tiny_encoder.tokenizer(LONG, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    room = tiny_encoder.max_seq_length - 2
    assert len(ids) > 4 * room
    head_end, tail_start = ids[room - 1][1], ids[len(ids) - room][0]
    first_chunk, last_chunk = (0, ids[3][1]), (ids[-4][0], len(LONG))
    whole = tiny_encoder.encode_chunks([LONG], [[first_chunk, last_chunk]])[0]
    head = tiny_encoder.encode_chunks([LONG[:head_end]], [[first_chunk]])[0][0]
    tail_text = LONG[tail_start:]
    tail = tiny_encoder.encode_chunks([tail_text], [[(last_chunk[0] - tail_start, len(tail_text))]])[0][0]
    np.testing.assert_allclose(whole[0], head, atol=1e-5)
    np.testing.assert_allclose(whole[1], tail, atol=1e-5)


@given(st.lists(st.tuples(st.integers(0, 12), st.integers(1, 12)), min_size=1, max_size=6))
@settings(max_examples=25)
def test_best_windows_pick_a_window_holding_the_token(pairs):
    starts = sorted({a for a, _ in pairs})
    windows = [(a, a + width) for a, (_, width) in zip(starts, pairs)]
    n = max(b for _, b in windows)
    covered = [i for i in range(n) if any(a <= i < b for a, b in windows)]
    best = best_windows(windows, n)
    for i in covered:
        a, b = windows[best[i]]
        assert a <= i < b


@pytest.fixture(scope="module")
def tiny(tokenizer):
    return make_tiny_encoder(tokenizer, seed=3)


@given(st.lists(st.tuples(st.integers(0, len(LONG) - 1), st.integers(1, 80)), min_size=1, max_size=5))
@settings(max_examples=15)
def test_any_valid_spans_give_unit_vectors_independent_of_each_other(tiny, raw):
    spans = [(start, min(len(LONG), start + width)) for start, width in raw]
    spans = [(a, b) for a, b in spans if LONG[a:b].strip()]
    if not spans:
        return
    together = tiny.encode_chunks([LONG], [spans])[0]
    assert together.shape == (len(spans), tiny.dim) and np.isfinite(together).all()
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1, atol=1e-5)
    alone = tiny.encode_chunks([LONG], [spans[:1]])[0]
    np.testing.assert_allclose(together[0], alone[0], atol=1e-5)


@pytest.mark.parametrize(
    "documents, spans, message",
    [
        ([""], [[(0, 1)]], "document 0 is empty"),
        (["   "], [[(0, 2)]], "document 0 is empty"),
        ([DOC], [[(5, 5)]], r"span \(5, 5\) is empty or outside"),
        ([DOC], [[(10, 1000)]], "outside its 100 characters"),
        ([DOC], [[(-1, 4)]], "outside"),
        ([DOC], [[(0, 3, 4)]], "pair of integers"),
        ([DOC], [[(0.0, 3)]], "pair of integers"),
        ([DOC], [], "1 documents but 0 lists of spans"),
        (DOC, [[(0, 3)]], "a list of documents"),
        (["a  b"], [[(1, 3)]], "covers no token"),
    ],
)
def test_bad_requests_are_one_line_errors(tiny, documents, spans, message):
    with pytest.raises(EmbedlabError, match=message) as err:
        tiny.encode_chunks(documents, spans)
    assert "\n" not in str(err.value)


def test_single_token_poolings_are_refused(tokenizer):
    from embedlab import Encoder
    from tests.tiny_models import tiny_bert

    model = Encoder.from_transformer(tiny_bert(len(tokenizer)), tokenizer, "cls", max_seq_length=32)
    with pytest.raises(EmbedlabError, match="uses cls pooling"):
        model.encode_chunks([DOC], [[(0, 6)]])


def test_a_two_tower_model_late_chunks_with_its_document_tower(tiny):
    two_tower = TwoTowerEncoder(make_tiny_encoder(tiny.tokenizer, seed=9), tiny)
    assert isinstance(two_tower, ChunkEmbedder)
    np.testing.assert_array_equal(
        two_tower.encode_chunks([DOC], [[(0, 6)]])[0], tiny.encode_chunks([DOC], [[(0, 6)]])[0]
    )


def test_the_index_late_chunks_and_remembers_it(tmp_path, tiny):
    documents = [Document("long", LONG, title="Topics"), Document("short", DOC)]
    config = IndexConfig(chunks=ChunkConfig(max_tokens=24, overlap=4))
    ordinary = Index.build(tiny, documents, config)
    late = Index.build(tiny, documents, IndexConfig(chunks=config.chunks, late_chunking=True))
    assert list(late.chunks) == list(ordinary.chunks) and len(late.chunks) > 4
    # A one-chunk document is read whole either way; the long one's chunks now carry its context.
    assert late.search(DOC, k=1)[0].doc_id == "short"
    short = ordinary.search(DOC, k=1)[0].score
    assert late.search(DOC, k=1)[0].score == pytest.approx(short, abs=1e-5)
    late.save(tmp_path / "idx")
    again = Index.load(tmp_path / "idx", encoder=tiny)
    assert again.config.late_chunking and again.info()["late_chunking"]
    again.add([Document("more", CITY)])
    assert again.search(CITY, k=1)[0].doc_id == "more"


def test_the_index_refuses_late_chunking_without_token_states():
    with pytest.raises(EmbedlabError, match="late chunking needs a transformer encoder"):
        Index.build(HashingEncoder(), [Document("a", DOC)], IndexConfig(late_chunking=True))
