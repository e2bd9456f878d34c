"""embedlab: sentence embeddings from encoding to training, evaluation, fast inference and search."""

from embedlab.encoder import Encoder
from embedlab.errors import EmbedlabError, InputTypeError, ModelLoadError
from embedlab.pooling import STRATEGIES as POOLING_STRATEGIES

__all__ = ["Encoder", "EmbedlabError", "InputTypeError", "ModelLoadError", "POOLING_STRATEGIES"]
__version__ = "0.1.0"
