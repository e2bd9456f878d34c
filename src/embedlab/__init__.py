"""embedlab: sentence embeddings from encoding to training, evaluation, fast inference and search."""

from embedlab import compat
from embedlab.embedder import ChunkEmbedder, Embedder
from embedlab.errors import EmbedlabError, InputTypeError, ModelLoadError
from embedlab.models.encoder import Encoder
from embedlab.models.loading import load_model
from embedlab.models.multi_vector import MultiVectorEncoder
from embedlab.models.pooling import STRATEGIES as POOLING_STRATEGIES
from embedlab.models.sparse_encoder import SparseEncoder
from embedlab.models.static_encoder import StaticEncoder

compat.install()

__all__ = [
    "POOLING_STRATEGIES",
    "ChunkEmbedder",
    "Embedder",
    "EmbedlabError",
    "Encoder",
    "InputTypeError",
    "ModelLoadError",
    "MultiVectorEncoder",
    "SparseEncoder",
    "StaticEncoder",
    "load_model",
]
__version__ = "0.1.0"
