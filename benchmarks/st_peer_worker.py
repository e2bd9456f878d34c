"""sentence-transformers' own ONNX, ONNX-int8 and OpenVINO backends, and fastembed, served to encode_throughput.py
from a venv of their own.

The ONNX ones need optimum-onnx, which pins transformers < 4.58, so they cannot share embedlab's environment;
fastembed (Qdrant's ONNX Runtime library, optional there) runs the same ONNX export; OpenVINO (optimum-intel)
wants newer transformers than optimum-onnx allows, so it has a third venv. This worker answers one JSON request
per line on stdin, so the benchmark still interleaves them with every other contender.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model
from timing import timed

# The file each of sentence-transformers' int8 presets writes: named after its weights' type (u8 on AVX2).
INT8_FILES = {"avx512_vnni": "model_qint8_avx512_vnni.onnx", "avx2": "model_quint8_avx2.onnx"}
# Where sentence-transformers' export_static_quantized_openvino_model puts its model, and its calibration recipe.
OPENVINO_INT8_FILE = "openvino/openvino_model_qint8_quantized.xml"
CALIBRATION_TEXTS, CALIBRATION_LENGTH = 300, 384
# What fastembed's own copy of this model (Qdrant/all-MiniLM-L6-v2-onnx) holds beside model.onnx.
FASTEMBED_FILES = ("config.json", "tokenizer.json", "special_tokens_map.json")


def int8_config() -> str:
    """sentence-transformers' quantization preset for this CPU: the VNNI one where the CPU has VNNI."""
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    return "avx512_vnni" if "avx512_vnni" in flags else "avx2"


class FastembedModel:
    """fastembed's TextEmbedding for all-MiniLM-L6-v2, from the local ONNX export instead of its hub download.

    fastembed truncates at the smaller of tokenizer_config's model_max_length and max_length (512 and none in the
    model's own files; sentence-transformers' re-save writes 256 and 128); its hub copy of the model sets 256,
    sentence-transformers' max_seq_length, and so does this copy: the same truncation as every other contender.
    """

    def __init__(self, source: Path, work: Path, threads: int) -> None:
        from fastembed import TextEmbedding  # optional in the peer venv: missing, the row is skipped with this error

        folder = work / "fastembed"
        if not (folder / "model.onnx").is_file():
            folder.mkdir(exist_ok=True)
            for name in FASTEMBED_FILES:
                shutil.copy(source / name, folder / name)
            config = json.loads((source / "tokenizer_config.json").read_text())
            max_length = json.loads((source / "sentence_bert_config.json").read_text())["max_seq_length"]
            config.update(model_max_length=max_length, max_length=max_length)
            (folder / "tokenizer_config.json").write_text(json.dumps(config))
            shutil.copy(work / "onnx" / "model.onnx", folder / "model.onnx")
        self.model = TextEmbedding(
            "sentence-transformers/all-MiniLM-L6-v2", specific_model_path=str(folder), threads=threads,
            cache_dir=str(work / "fastembed-cache"), local_files_only=True,
        )

    def encode(self, texts: list[str], batch_size: int, **_) -> np.ndarray:
        return np.stack(list(self.model.embed(texts, batch_size=batch_size)))


def quantize_openvino(work: Path, calibration: Path, ov_config: dict) -> None:
    """sentence-transformers' export_static_quantized_openvino_model, step for step (optimum-intel's OVQuantizer,
    NNCF post-training static int8 with its default OVQuantizationConfig, 300 texts padded to 384 tokens), but
    calibrated on local SST-2 sentences: its default calibration set, GLUE SST-2 train, is a hub download."""
    from datasets import Dataset
    from optimum.intel.openvino import OVConfig, OVQuantizationConfig, OVQuantizer

    model = SentenceTransformer(str(work), backend="openvino", device="cpu", model_kwargs={"ov_config": ov_config})
    lines = calibration.read_text().splitlines()[:CALIBRATION_TEXTS]
    texts = Dataset.from_dict({"sentence": [json.loads(line)["text"] for line in lines]})
    tokenized = texts.map(lambda batch: model.tokenizer(batch["sentence"], padding="max_length", truncation=True,
                                                        max_length=CALIBRATION_LENGTH),
                          batched=True, remove_columns=["sentence"])
    quantizer = OVQuantizer.from_pretrained(model.transformers_model)
    quantizer.quantize(tokenized, save_directory=str(work / "openvino-int8"),
                       ov_config=OVConfig(quantization_config=OVQuantizationConfig()))
    target = work / OPENVINO_INT8_FILE
    target.parent.mkdir(exist_ok=True)
    for suffix in (".xml", ".bin"):
        shutil.copy(work / "openvino-int8" / "openvino" / f"openvino_model{suffix}", target.with_suffix(suffix))


def load(source: str, work: Path, backend: str, threads: int,
         calibration: Path | None = None) -> SentenceTransformer | FastembedModel:
    """The model with one of sentence-transformers' backends or fastembed, exported into a work copy once."""
    if not (work / "config.json").is_file():
        shutil.copytree(source, work, dirs_exist_ok=True)
    if backend == "torch":
        return SentenceTransformer(str(work), device="cpu")
    ov_config = {"INFERENCE_NUM_THREADS": str(threads)}
    if backend == "openvino":  # exported to OpenVINO IR on load, as a new user gets it
        return SentenceTransformer(str(work), backend="openvino", device="cpu", model_kwargs={"ov_config": ov_config})
    if backend == "openvino-int8":
        if not (work / OPENVINO_INT8_FILE).is_file():
            quantize_openvino(work, calibration, ov_config)
        return SentenceTransformer(str(work), backend="openvino", device="cpu",
                                   model_kwargs={"file_name": OPENVINO_INT8_FILE, "ov_config": ov_config})
    if not (work / "onnx" / "model.onnx").is_file():
        SentenceTransformer(str(work), backend="onnx", device="cpu").save_pretrained(str(work))
    if backend == "fastembed":
        return FastembedModel(Path(source), work, threads)
    if backend == "onnx":
        return SentenceTransformer(str(work), backend="onnx", device="cpu")
    name = INT8_FILES[int8_config()]
    if not (work / "onnx" / name).is_file():
        model = SentenceTransformer(str(work), backend="onnx", device="cpu")
        export_dynamic_quantized_onnx_model(model, int8_config(), str(work))
    return SentenceTransformer(str(work), backend="onnx", device="cpu", model_kwargs={"file_name": f"onnx/{name}"})


def main() -> None:
    models: dict[str, SentenceTransformer | FastembedModel] = {}
    for line in sys.stdin:
        request = json.loads(line)
        try:
            # stdout carries the replies: libraries' progress output (NNCF's) goes to stderr instead.
            with contextlib.redirect_stdout(sys.stderr):
                reply = answer(request, models)
        except Exception as err:  # noqa: BLE001 - the benchmark reports it as a skipped row rather than dying
            reply = {"error": f"{type(err).__name__}: {err}"}
        print(json.dumps(reply), flush=True)


def answer(request: dict, models: dict[str, SentenceTransformer | FastembedModel]) -> dict:
    op = request["op"]
    if op == "load":
        torch.set_num_threads(request["threads"])
        backend = request["backend"]
        calibration = Path(request["calibration"]) if request.get("calibration") else None
        models[request["name"]] = load(request["source"], Path(request["work"]), backend, request["threads"],
                                       calibration)
        note = ""
        if backend == "onnx-int8":
            note = f"int8 preset {int8_config()}"
        elif backend == "fastembed":
            note = f"fastembed {version('fastembed')} on sentence-transformers' ONNX export, local files"
        elif backend.startswith("openvino"):
            compiled = models[request["name"]].transformers_model.request
            precision = compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
            note = f"OpenVINO {version('openvino')}, inference precision {precision} (its CPU default)"
            if backend == "openvino-int8":
                note += (f"; static int8 (NNCF, sentence-transformers' recipe), calibrated on {CALIBRATION_TEXTS}"
                         " local SST-2 sentences")
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
