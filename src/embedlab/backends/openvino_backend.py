"""The OpenVINO backend: a statically quantized int8 model (OpenVINO IR) compiled for the CPU.

Its graph holds the transformer, pooling and normalisation, as the ONNX graphs do; shapes stay dynamic, so the
padded batches Encoder.encode builds run as they are. A lone batch runs on one stream that uses every thread
(lowest latency); several batches run on a second compilation with OpenVINO's throughput streams, each stream a
share of the threads working on its own batch, which keeps all cores busy on small matrices
(docs/benchmarks/openvino_profile.md). An infer request serves one call at a time, so every calling thread (the
server's inference workers) gets its own.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import chain
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from embedlab.backends.base import Backend
from embedlab.backends.support import check_graph_prompt
from embedlab.errors import ModelLoadError
from embedlab.models.core import EmbeddingModel
from embedlab.models.model_files import first_line


class OpenVinoBackend(Backend):
    """One OpenVINO model on the CPU plugin, fed the padded batches Encoder.encode builds."""

    def __init__(self, model_xml: Path, name: str, threads: int | None = None) -> None:
        import openvino as ov

        self._core = ov.Core()
        # Same default as torch, so that backends compare at equal thread counts unless told otherwise.
        self.threads = threads or torch.get_num_threads()
        try:
            self._model = self._core.read_model(str(model_xml))
            self.compiled = self._compile("LATENCY")
        except Exception as err:  # noqa: BLE001 - OpenVINO raises RuntimeError subclasses of its own
            raise ModelLoadError(f"OpenVINO cannot load {model_xml}: {first_line(err)}") from None
        self._streamed = None  # the throughput compilation, made by the first call with several batches
        self._compile_lock = threading.Lock()
        self._requests = threading.local()
        self.inputs = [port.get_any_name() for port in self.compiled.inputs]
        self.graph = model_xml
        self.name = name
        self.reason = ""

    def _compile(self, hint: str):
        settings = {"INFERENCE_NUM_THREADS": self.threads, "PERFORMANCE_HINT": hint}
        return self._core.compile_model(self._model, "CPU", settings)

    def embed(self, model: EmbeddingModel, features: dict[str, Tensor], prompt_length: int) -> Tensor:
        check_graph_prompt(self.name, prompt_length)
        request = getattr(self._requests, "request", None)
        if request is None:
            request = self._requests.request = self.compiled.create_infer_request()
        request.infer(self._feed(features))
        return self._pooled(request)

    def embed_batches(
        self, model: EmbeddingModel, batches: Iterable[dict[str, Tensor]], prompt_length: int
    ) -> Iterator[Tensor]:
        """Several batches in flight at once, one per throughput stream, results in the order given."""
        check_graph_prompt(self.name, prompt_length)
        batches = iter(batches)
        first, second = next(batches, None), next(batches, None)
        if second is None:
            if first is not None:
                yield self.embed(model, first, prompt_length)
            return
        requests = self._stream_requests()
        in_flight: deque = deque()
        try:
            for number, features in enumerate(chain((first, second), batches)):
                if len(in_flight) == len(requests):
                    yield self._pooled(in_flight.popleft())  # the oldest, whose request is reused next
                request = requests[number % len(requests)]
                request.start_async(self._feed(features))
                in_flight.append(request)
            while in_flight:
                yield self._pooled(in_flight.popleft())
        finally:
            # A caller that stops early must not leave requests running that its next call would reuse.
            for request in in_flight:
                request.wait()

    def _stream_requests(self) -> list:
        requests = getattr(self._requests, "streamed", None)
        if requests is None:
            with self._compile_lock:
                if self._streamed is None:
                    self._streamed = self._compile("THROUGHPUT")
            count = self._streamed.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
            requests = self._requests.streamed = [self._streamed.create_infer_request() for _ in range(count)]
        return requests

    def _feed(self, features: dict[str, Tensor]) -> dict[str, np.ndarray]:
        return {name: features[name].numpy() for name in self.inputs}

    def _pooled(self, request) -> Tensor:
        request.wait()
        # Output 0 is the pooled vector (1 the normalised one); the request reuses its buffer on the next call: copy.
        return torch.from_numpy(np.array(request.get_output_tensor(0).data, dtype=np.float32))

    def torch_model(self, model: EmbeddingModel) -> None:
        """A compiled graph has no torch model to read token vectors from."""
