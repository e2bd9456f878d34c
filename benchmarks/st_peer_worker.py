"""sentence-transformers' own ONNX and ONNX-int8 backends, served to encode_throughput.py from a second venv.

They need optimum-onnx, which pins transformers < 4.58, so they cannot share embedlab's environment. This worker
answers one JSON request per line on stdin, so the benchmark still interleaves them with every other contender.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model
from timing import timed

INT8_FILE = "model_qint8_{config}.onnx"


def int8_config() -> str:
    """sentence-transformers' quantization preset for this CPU: the VNNI one where the CPU has VNNI."""
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    return "avx512_vnni" if "avx512_vnni" in flags else "avx2"


def load(source: str, work: Path, backend: str) -> SentenceTransformer:
    """The model with one of sentence-transformers' backends, exported into a work copy the first time."""
    if not (work / "config.json").is_file():
        shutil.copytree(source, work, dirs_exist_ok=True)
    if backend == "torch":
        return SentenceTransformer(str(work), device="cpu")
    if not (work / "onnx" / "model.onnx").is_file():
        SentenceTransformer(str(work), backend="onnx", device="cpu").save_pretrained(str(work))
    if backend == "onnx":
        return SentenceTransformer(str(work), backend="onnx", device="cpu")
    name = INT8_FILE.format(config=int8_config())
    if not (work / "onnx" / name).is_file():
        model = SentenceTransformer(str(work), backend="onnx", device="cpu")
        export_dynamic_quantized_onnx_model(model, int8_config(), str(work))
    return SentenceTransformer(str(work), backend="onnx", device="cpu", model_kwargs={"file_name": f"onnx/{name}"})


def main() -> None:
    models: dict[str, SentenceTransformer] = {}
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply = answer(request, models)
        except Exception as err:  # noqa: BLE001 - the benchmark reports it as a skipped row rather than dying
            reply = {"error": f"{type(err).__name__}: {err}"}
        print(json.dumps(reply), flush=True)


def answer(request: dict, models: dict[str, SentenceTransformer]) -> dict:
    op = request["op"]
    if op == "load":
        torch.set_num_threads(request["threads"])
        models[request["name"]] = load(request["source"], Path(request["work"]), request["backend"])
        note = f"int8 preset {int8_config()}" if request["backend"] == "onnx-int8" else ""
        return {"ok": True, "note": note}
    model = models[request["name"]]

    def encode(texts: list[str]) -> np.ndarray:
        return model.encode(texts, batch_size=request["batch_size"], convert_to_numpy=True, show_progress_bar=False)

    if op == "time":
        seconds, cpu_seconds, output = timed(encode, request["texts"])
    else:
        seconds = cpu_seconds = 0.0
        output = encode(request["texts"])
    np.save(request["out"], np.asarray(output, dtype=np.float32))
    return {"seconds": seconds, "cpu_seconds": cpu_seconds}


if __name__ == "__main__":
    main()
