"""Tiny models of every architecture the course handout names, built offline in seconds.

Each is made from its architecture's config (hidden size 32, 2 layers) with random weights, and
gets a tokenizer of its own kind, trained here on the toy corpus with the `tokenizers` library and
saved as that architecture's transformers tokenizer class: WordPiece for the BERT family, byte-level
BPE for RoBERTa and ModernBERT, Unigram (sentencepiece's model) for T5, ALBERT, XLM-RoBERTa and
DeBERTa-v2. `AutoTokenizer.from_pretrained(directory)` then gives the architecture's own special
tokens (`[CLS]`/`[SEP]`, `<s>`/`</s>`, T5's lone `</s>`), as a downloaded checkpoint would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from conftest import sentiment_rows

WORDPIECE, BYTE_LEVEL_BPE, UNIGRAM = "WordPiece", "byte-level BPE", "Unigram"
MAX_LENGTH = 64  # the tokenizers' model_max_length; position tables are larger (RoBERTa offsets them by the pad id)
BERT_ENDS, ROBERTA_ENDS = ("[CLS]", "[SEP]"), ("<s>", "</s>")
SIZE = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}


@dataclass(frozen=True)
class Architecture:
    name: str  # the test id and the model folder's name
    model_type: str  # transformers' config model_type
    tokenizer_class: str  # the transformers tokenizer class AutoTokenizer gives for real checkpoints
    tokenizer_kind: str
    ends: tuple[str | None, str]  # the special tokens before and after a text (T5 has none before)
    config: dict = field(default_factory=dict)  # config arguments besides the vocabulary and special token ids


ARCHITECTURES = (
    Architecture("bert", "bert", "BertTokenizer", WORDPIECE, BERT_ENDS, {**SIZE, "max_position_embeddings": 128}),
    # distilbert-base-uncased ships no tokenizer class: transformers 5 gives it BertTokenizer, whose
    # token_type_ids DistilBERT's forward does not take.
    Architecture("distilbert", "distilbert", "BertTokenizer", WORDPIECE, BERT_ENDS,
                 {"dim": 32, "n_layers": 2, "n_heads": 2, "hidden_dim": 64, "max_position_embeddings": 128}),
    Architecture("roberta", "roberta", "RobertaTokenizer", BYTE_LEVEL_BPE, ROBERTA_ENDS,
                 {**SIZE, "max_position_embeddings": 128, "type_vocab_size": 1}),
    Architecture("xlm-roberta", "xlm-roberta", "XLMRobertaTokenizer", UNIGRAM, ROBERTA_ENDS,
                 {**SIZE, "max_position_embeddings": 128, "type_vocab_size": 1}),
    Architecture("electra", "electra", "BertTokenizer", WORDPIECE, BERT_ENDS,
                 {**SIZE, "embedding_size": 16, "max_position_embeddings": 128}),
    Architecture("albert", "albert", "AlbertTokenizer", UNIGRAM, BERT_ENDS,
                 {**SIZE, "embedding_size": 16, "max_position_embeddings": 128}),
    # As the DeBERTa-v3 checkpoints are configured: relative positions only, no token types.
    Architecture("deberta-v2", "deberta-v2", "DebertaV2Tokenizer", UNIGRAM, BERT_ENDS,
                 {**SIZE, "max_position_embeddings": 128, "relative_attention": True, "position_buckets": 16,
                  "pos_att_type": ["p2c", "c2p"], "position_biased_input": False, "norm_rel_ebd": "layer_norm",
                  "share_att_key": True, "type_vocab_size": 0}),
    Architecture("mpnet", "mpnet", "MPNetTokenizer", WORDPIECE, ROBERTA_ENDS, {**SIZE, "max_position_embeddings": 128}),
    Architecture("t5", "t5", "T5Tokenizer", UNIGRAM, (None, "</s>"),
                 {"d_model": 32, "d_kv": 16, "d_ff": 64, "num_layers": 2, "num_decoder_layers": 1, "num_heads": 2,
                  "relative_attention_num_buckets": 8, "decoder_start_token_id": 0}),
    # ModernBERT ships a generic fast tokenizer (a byte-level BPE with [CLS]/[SEP]).
    Architecture("modernbert", "modernbert", "TokenizersBackend", BYTE_LEVEL_BPE, BERT_ENDS,
                 {**SIZE, "max_position_embeddings": 128, "global_attn_every_n_layers": 2, "local_attention": 8}),
)
BY_NAME = {architecture.name: architecture for architecture in ARCHITECTURES}

# Chinese: a character-level WordPiece vocabulary, as bert-base-chinese has.
CHINESE_LABELS = ("负面", "正面")
CHINESE_POSITIVE = ["很好", "喜欢", "开心", "满意"]
CHINESE_NEGATIVE = ["很差", "讨厌", "难过", "失望"]
CHINESE_FILLER = ["今天", "电影", "天气", "新闻", "我们", "城市", "朋友", "晚上", "这个", "饭店"]


def toy_corpus() -> list[str]:
    """The texts the tokenizers learn from: the toy task's words, in sentences."""
    return [row["text"] for row in sentiment_rows(400, seed=11)]


def chinese_rows(count: int, seed: int) -> list[dict]:
    """Chinese texts whose class is given away by one word, labelled 负面 (negative) and 正面 (positive)."""
    words = (CHINESE_FILLER, CHINESE_POSITIVE, CHINESE_NEGATIVE)
    return sentiment_rows(count, seed, CHINESE_LABELS, words, fillers=3, separator="，")


def train_tokenizer(architecture: Architecture, corpus: list[str]):
    """A tokenizer of the architecture's class and kind, its vocabulary learnt from `corpus`."""
    import transformers

    if architecture.name == "modernbert":
        return modernbert_tokenizer(corpus)
    tokenizer_class = getattr(transformers, architecture.tokenizer_class)
    if architecture.tokenizer_kind == UNIGRAM:
        return unigram_tokenizer(tokenizer_class, corpus)
    # The class's own pipeline and special tokens, a new vocabulary (the HF course's way to train one).
    vocab_size = 400 if architecture.tokenizer_kind == BYTE_LEVEL_BPE else 200  # byte-level starts from 256 bytes
    tokenizer = tokenizer_class().train_new_from_iterator([corpus], vocab_size=vocab_size)
    tokenizer.model_max_length = MAX_LENGTH
    return tokenizer


def unigram_tokenizer(tokenizer_class, corpus: list[str]):
    """A sentencepiece-style Unigram tokenizer of `tokenizer_class`, its pieces learnt from `corpus`.

    The Unigram trainer seeds its pieces with substrings found in at least two distinct pre-tokenized
    words; on a toy corpus of a few dozen distinct words that leaves single characters. Trained on
    whole sentences, it learns the words ("▁good"), as sentencepiece does on real text. The class's
    own special pieces keep their ids (T5: <pad> 0, </s> 1, <unk> 2; XLM-R: <s> <pad> </s> <unk>).
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    extra = {"extra_ids": 0} if tokenizer_class.__name__ == "T5Tokenizer" else {}  # T5's 100 sentinels: not to classify
    specials = json.loads(tokenizer_class(**extra).backend_tokenizer.to_str())["model"]["vocab"]
    special_pieces = [piece for piece, _ in specials]
    learner = Tokenizer(models.Unigram())
    learner.pre_tokenizer = pre_tokenizers.Metaspace(split=False)
    learner.train_from_iterator(corpus, trainers.UnigramTrainer(vocab_size=200, special_tokens=special_pieces))
    learnt = json.loads(learner.to_str())["model"]["vocab"]
    # Pieces across words ("▁the▁movie") are dropped: the class's own pre-tokenizer splits at spaces.
    pieces = [(piece, score) for piece, score in specials]
    pieces += [(piece, score) for piece, score in learnt if piece not in special_pieces and "▁" not in piece[1:]]
    return tokenizer_class(vocab=pieces, model_max_length=MAX_LENGTH, **extra)


def modernbert_tokenizer(corpus: list[str]):
    """ModernBERT's kind of tokenizer: byte-level BPE, [CLS] text [SEP], a generic fast tokenizer class."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    backend = Tokenizer(models.BPE(unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", backend.token_to_id("[CLS]")), ("[SEP]", backend.token_to_id("[SEP]"))])
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]",
        mask_token="[MASK]", model_max_length=MAX_LENGTH, model_input_names=["input_ids", "attention_mask"])


def special_token_ids(tokenizer) -> dict[str, int]:
    """The config's special token ids, from the tokenizer: pad, and the tokens that open and close a text."""
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.cls_token_id
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
    ids = {"pad_token_id": tokenizer.pad_token_id, "bos_token_id": bos, "eos_token_id": eos}
    return {name: value for name, value in ids.items() if value is not None}


def build_tiny_model(architecture: Architecture, directory: Path, corpus: list[str] | None = None) -> Path:
    """The architecture's base model with random weights (seed 0) and its tokenizer, saved in `directory`."""
    import torch
    from transformers import AutoConfig, AutoModel

    tokenizer = train_tokenizer(architecture, corpus or toy_corpus())
    extra = {}
    if architecture.model_type == "modernbert":
        extra = {"cls_token_id": tokenizer.cls_token_id, "sep_token_id": tokenizer.sep_token_id}
    config = AutoConfig.for_model(architecture.model_type, vocab_size=len(tokenizer), **special_token_ids(tokenizer),
                                  **extra, **architecture.config)
    torch.manual_seed(0)  # the same weights in every session, so training outcomes are reproducible
    directory.mkdir(parents=True, exist_ok=True)
    AutoModel.from_config(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def build_chinese_bert(directory: Path) -> Path:
    """A tiny BERT whose WordPiece vocabulary is the Chinese characters of the toy task (bert-base-chinese's kind)."""
    corpus = [row["text"] for row in chinese_rows(400, seed=11)]
    return build_tiny_model(BY_NAME["bert"], directory, corpus)

