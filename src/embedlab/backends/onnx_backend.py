"""The ONNX Runtime backends: one exported graph (transformer, pooling, normalisation) per session.

Full graph optimisations are on; memory patterns are off because every batch has a new shape.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from embedlab.backends.base import Backend
from embedlab.backends.support import check_graph_prompt
from embedlab.errors import ModelLoadError
from embedlab.models.core import EmbeddingModel

POOLED_OUTPUT = "pooled_embedding"
NORMALIZED_OUTPUT = "sentence_embedding"


class OnnxBackend(Backend):
    """An ONNX Runtime CPU session over an exported graph, fed the padded batches Encoder.encode builds."""

    def __init__(self, graph: Path, name: str, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Same default as torch, so that backends compare at equal thread counts unless told otherwise.
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        # Patterns are cached per input shape; with dynamic padding that cache only grows.
        options.enable_mem_pattern = False
        try:
            self.session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # noqa: BLE001 - onnxruntime raises its own exception types for unreadable graphs
            raise ModelLoadError(f"ONNX Runtime cannot load {graph}: {str(err).strip().splitlines()[0]}") from None
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.graph = graph
        self.name = name
        self.reason = ""

    def embed(self, model: EmbeddingModel, features: dict[str, Tensor], prompt_length: int) -> Tensor:
        check_graph_prompt(self.name, prompt_length)
        feed = {name: features[name].numpy() for name in self.inputs}
        (pooled,) = self.session.run([POOLED_OUTPUT], feed)
        return torch.from_numpy(np.asarray(pooled, dtype=np.float32))

    def torch_model(self, model: EmbeddingModel) -> None:
        """A graph has no torch model to read token vectors from."""
