"""Which models the ONNX and fp16 backends can run, decided from the loaded model before any export starts.

An export traces the model, fuses the graph and validates it (seconds for a small model, minutes for a large
one), so what is known not to work is refused first, in one line; an architecture not listed here is still
exported, unfused, and the validation against torch decides. The table follows what was measured on tiny
models of each family (docs/backends_per_family.md).
"""

from __future__ import annotations

from embedlab.errors import EmbedlabError
from embedlab.models.core import EmbeddingModel

# Families whose traced graphs ONNX Runtime's transformer optimizer, with its BERT fusions, was seen to fuse
# (attention, skip and simplified layer norms, GELU) into a graph that still matched torch at fp32; the fusions
# only rewrite patterns they recognise, and every export is validated anyway.
BERT_FUSED_FAMILIES = frozenset(
    {"bert", "roberta", "xlm-roberta", "distilbert", "mpnet", "deberta-v2", "modernbert", "t5", "qwen3"}
)
BERT_FUSION = "bert"  # the optimizer's model_type for them

ONNX_ALTERNATIVE = "use backend torch or torch-bf16"
# Families whose trained models' activations outgrow float16's range: Gemma 3 (EmbeddingGemma's base) gives NaN
# or empty outputs in fp16 (transformers issue 36822; vLLM and Unsloth force bf16 or fp32 for it). Random tiny
# weights cannot show this, so it is listed from those reports, not measured here.
FP16_OVERFLOWS = frozenset({"gemma3", "gemma3_text"})


def fusion_model_type(model: EmbeddingModel) -> str | None:
    """The ONNX Runtime optimizer model_type to fuse this model's graph with, or None to leave it unfused."""
    return BERT_FUSION if _model_type(model) in BERT_FUSED_FAMILIES else None


def _model_type(model: EmbeddingModel) -> str | None:
    return getattr(getattr(model.transformer, "config", None), "model_type", None)


def onnx_refusal(model: EmbeddingModel) -> str | None:
    """Why this model cannot become an ONNX graph (a clause, no advice), or None when it can be exported."""
    if model.pooling.needs_attentions:
        return "cls_attention pooling reads attention weights the ONNX graph does not expose"
    if not model.pooling.include_prompt:
        return "this model pools without its prompt (include_prompt: false), which the graph cannot be told"
    config = getattr(model.transformer, "config", None)
    if getattr(config, "use_bidirectional_attention", False):
        # Gemma-style decoders made bidirectional (EmbeddingGemma): transformers' custom mask functions go
        # through torch.vmap, which the TorchScript exporter fails on (the dynamo exporter was not tried: it needs
        # onnxscript, and its graphs are not the ones ONNX Runtime fuses).
        return (
            f"{config.model_type} with bidirectional attention builds its attention masks with torch.vmap, "
            "which the ONNX exporter cannot trace"
        )
    return None


def check_onnx_exportable(model: EmbeddingModel) -> None:
    """Raise the one-line refusal when this model cannot become an ONNX graph."""
    refusal = onnx_refusal(model)
    if refusal is not None:
        raise EmbedlabError(f"{refusal}; {ONNX_ALTERNATIVE}")


def check_graph_prompt(backend: str, prompt_length: int) -> None:
    """Refuse a batch whose pooling must skip its prompt: an exported graph pools every token it is given."""
    if prompt_length:
        raise EmbedlabError(f"backend {backend} cannot pool without the prompt; use backend torch")


def check_fp16(model: EmbeddingModel) -> None:
    """Refuse torch-fp16 for a family whose activations overflow float16, in one line."""
    if _model_type(model) in FP16_OVERFLOWS:
        raise EmbedlabError(
            f"{_model_type(model)} activations overflow float16 (NaN vectors); "
            "use backend torch-bf16 on a GPU with bf16, or torch"
        )
