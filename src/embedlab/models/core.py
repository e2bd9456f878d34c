"""EmbeddingModel: the differentiable pipeline transformer → pooling → Dense/LayerNorm (→ normalize) behind
every Encoder.

Training, the backends, ONNX export and distillation use it through these public methods; the Encoder adds
the tokenizer, the backend and the batched encode loop around it.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from embedlab.models.dense import Dense, LayerNorm
from embedlab.models.pooling import Pooling

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class EmbeddingModel(nn.Module):
    """A transformer's token vectors pooled into one vector per text, then through the `head` modules (Dense,
    LayerNorm; often none); `normalize` says whether to unit-scale."""

    def __init__(
        self,
        transformer: nn.Module,
        pooling: Pooling,
        *,
        normalize: bool,
        token_type_ids: bool,
        head: list[Dense | LayerNorm] | None = None,
    ) -> None:
        super().__init__()
        self.transformer = transformer
        self.pooling = pooling
        # Registered only when present, so a model without one keeps the state-dict keys fingerprints hash.
        if head:
            self.head = nn.ModuleList(head)
        else:
            self.head = None
        self.normalize = normalize
        self.token_type_ids = token_type_ids

    @property
    def head_modules(self) -> list[Dense | LayerNorm]:
        return list(self.head) if self.head is not None else []

    @property
    def dim(self) -> int:
        return self.head[-1].out_features if self.head is not None else self.pooling.dim

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def input_names(self) -> list[str]:
        """The inputs the transformer reads, in the order an exported graph takes them."""
        return ["input_ids", "attention_mask"] + (["token_type_ids"] if self.token_type_ids else [])

    def token_states(self, features: dict[str, Tensor], attentions: bool = False) -> tuple[Tensor, Tensor | None]:
        """Last-layer token vectors (B, T, H) in fp32 and, with `attentions`, the first token's last-layer attention
        over the tokens averaged over heads (B, T), which needs eager attention; what every pooling reads."""
        inputs = {k: features[k] for k in MODEL_INPUTS if k in features}
        output = self.transformer(**inputs, output_attentions=attentions, return_dict=True)
        cls_attention = output.attentions[-1][:, :, 0, :].float().mean(dim=1) if attentions else None
        return output.last_hidden_state.float(), cls_attention

    def forward(self, features: dict[str, Tensor], prompt_length: int = 0) -> Tensor:
        """Pooled, un-normalised embeddings (B, dim); gradients flow when called outside inference mode.

        prompt_length > 0 leaves the first tokens (an instruction prompt) out of pooling when the model asks so.
        """
        hidden, cls_attention = self.token_states(features, self.pooling.needs_attentions)
        return self.pool(hidden, features["attention_mask"], cls_attention, prompt_length)

    def pool(
        self, hidden: Tensor, attention_mask: Tensor, cls_attention: Tensor | None = None, prompt_length: int = 0
    ) -> Tensor:
        """Token states (B, T, H) to un-normalised embeddings (B, dim): the pooling, then the head modules."""
        embeddings = self.pooling(hidden, attention_mask, cls_attention, prompt_length)
        for module in self.head_modules:
            embeddings = module(embeddings)
        return embeddings

    def reduced_precision_copy(self, dtype: torch.dtype) -> EmbeddingModel:
        """A frozen copy whose transformer runs in `dtype`; pooling and head stay fp32 (token_states returns fp32)."""
        transformer = copy.deepcopy(self.transformer).to(dtype).eval()
        # BERT's pooler output is never read: dropping it skips one matrix product per batch.
        if isinstance(getattr(transformer, "pooler", None), nn.Module):
            transformer.pooler = None
        pooling = copy.deepcopy(self.pooling).float()
        head = [copy.deepcopy(module).float() for module in self.head_modules]
        return EmbeddingModel(
            transformer, pooling, normalize=self.normalize, token_type_ids=self.token_type_ids, head=head
        ).eval()

    def weights_version(self) -> tuple:
        """Changes whenever a weight changes in place (optimizer steps, load_state_dict) or is replaced."""
        return (id(self.transformer), *((p.data_ptr(), p._version) for p in self.parameters()))
