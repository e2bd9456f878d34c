"""Applications built on the encoder and the index: retrieval-augmented answers, synthetic training data and more."""
