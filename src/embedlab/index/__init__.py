"""Vector search: stores behind one interface (exact, FAISS, Milvus, quantized) and the `Index` over a corpus."""
