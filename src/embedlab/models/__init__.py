"""The models: what turns text into vectors, how each kind is read and written, and one place that loads them.

`loading.load_model` decides what a name, alias, hub id or directory is; the rest of the package sees a model
only through the `Embedder` protocol (embedlab.embedder).
"""
