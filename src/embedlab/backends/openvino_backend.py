"""The OpenVINO backend: a statically quantized int8 model (OpenVINO IR) compiled for the CPU.

Its graph holds the transformer, pooling and normalisation, as the ONNX graphs do; shapes stay dynamic, so the
padded batches Encoder.encode builds run as they are. An OpenVINO infer request serves one call at a time, so
every calling thread (the server's inference workers) gets its own.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from embedlab.errors import EmbedlabError, ModelLoadError
from embedlab.models.core import EmbeddingModel
from embedlab.models.model_files import first_line


class OpenVinoBackend:
    """One compiled OpenVINO model on the CPU plugin, fed the padded batches Encoder.encode builds."""

    def __init__(self, model_xml: Path, name: str, threads: int | None = None) -> None:
        import openvino as ov

        core = ov.Core()
        # Same default as torch, so that backends compare at equal thread counts unless told otherwise.
        settings = {"INFERENCE_NUM_THREADS": threads or torch.get_num_threads()}
        try:
            self.compiled = core.compile_model(core.read_model(str(model_xml)), "CPU", settings)
        except Exception as err:  # noqa: BLE001 - OpenVINO raises RuntimeError subclasses of its own
            raise ModelLoadError(f"OpenVINO cannot load {model_xml}: {first_line(err)}") from None
        self._requests = threading.local()
        self.inputs = [port.get_any_name() for port in self.compiled.inputs]
        self.pooled = self.compiled.outputs[0]  # the graph's outputs: pooled, then normalised
        self.graph = model_xml
        self.name = name
        self.reason = ""

    def embed(self, model: EmbeddingModel, features: dict[str, Tensor], prompt_length: int) -> Tensor:
        if prompt_length:
            raise EmbedlabError(f"backend {self.name} cannot pool without the prompt; use backend torch")
        request = getattr(self._requests, "request", None)
        if request is None:
            request = self._requests.request = self.compiled.create_infer_request()
        result = request.infer({name: features[name].numpy() for name in self.inputs})
        # The request reuses its output buffer on the next call: copy before handing it out.
        return torch.from_numpy(np.array(result[self.pooled], dtype=np.float32))

    def torch_model(self, model: EmbeddingModel) -> None:
        """A compiled graph has no torch model to read token vectors from."""
