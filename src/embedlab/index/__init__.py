"""Vector search: stores behind one interface (exact, FAISS, Milvus, quantized) and the `Index` over a corpus."""

from embedlab.index.index import Index, IndexConfig, IndexHit

__all__ = ["Index", "IndexConfig", "IndexHit"]
