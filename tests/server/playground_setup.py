"""The playground's test server: the bundled all-MiniLM-L6-v2, a small in-memory index and, for the late-interaction
page, the hashing sparse and multi-vector stand-ins, on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from embedlab.data.corpus import Document
from embedlab.index.index import Index
from embedlab.models.encoder import Encoder
from embedlab.server import ServerConfig, create_app
from tests.fakes import HashingMultiVectorEncoder, HashingSparseEncoder
from tests.server.conftest import running

DOCUMENTS = [
    Document(
        "guitar", "How to play the guitar for beginners. Start with three chords and practise every day.", "Guitars"
    ),
    Document("markets", "Stock markets fell sharply on Monday. Investors sold shares after weak earnings.", "Markets"),
    Document("soup", "A simple recipe for onion soup. Slice the onions and cook them slowly in butter.", "Onion soup"),
    Document("moon", "The moon orbits the Earth every 27 days. Its gravity causes the tides.", "The moon"),
    Document("python", "Python is a programming language. Many people write code in Python every day.", "Python"),
    Document("rain", "Heavy rain is expected tomorrow. Bring an umbrella if you go outside.", "Weather"),
]


@contextmanager
def playground_server(with_index: bool = True) -> Iterator[str]:
    """A running server of the bundled model; yields its base URL. With the small index and the sparse and
    multi-vector stand-ins unless told not to (`with_index=False`: none of them, as a bare `embedlab serve`)."""
    encoder = Encoder.load("minilm")
    index = Index.build(encoder, DOCUMENTS) if with_index else None
    extras = {"sparse": HashingSparseEncoder(), "multi_vector": HashingMultiVectorEncoder()} if with_index else {}
    app = create_app(ServerConfig(model_name="minilm", playground=True), encoder, index=index, **extras)
    with running(app) as (url, _):
        yield url
