"""Tiny real text models for tests: a WordPiece tokenizer trained here in milliseconds and a BERT classifier
a few hundred parameters wide, trained for a few steps so its predictions differ between texts.

Saved as the Hugging Face Hub lays a repository out (config.json, tokenizer files, model.safetensors).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import transformers
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

POSITIVE = ["good", "great", "fine", "lovely", "superb", "fun", "warm", "bright"]
NEGATIVE = ["bad", "dull", "awful", "boring", "poor", "slow", "cold", "grim"]
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def sentiment_rows(count: int, *, offset: int = 0) -> list[tuple[str, str]]:
    """Short reviews whose label follows their adjective; some long enough to be truncated at 16 tokens."""
    rows = []
    for i in range(offset, offset + count):
        positive = i % 2 == 0
        words = POSITIVE if positive else NEGATIVE
        text = f"a {words[i % len(words)]} film, {words[(i * 3) % len(words)]} acting"
        if i % 5 == 0:
            text += " and then" + " more" * 20
        rows.append((text, "pos" if positive else "neg"))
    return rows


def train_wordpiece(texts: list[str], *, model_max_length: int = 16) -> transformers.PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.train_from_iterator(
        texts, trainers.WordPieceTrainer(vocab_size=120, special_tokens=SPECIAL_TOKENS)
    )
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", model_max_length=model_max_length,
    )  # fmt: skip


def tiny_bert_config(vocab_size: int, *, labels: list[str] | None) -> transformers.BertConfig:
    config = transformers.BertConfig(
        vocab_size=vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=32, num_labels=len(labels) if labels else 2,
    )  # fmt: skip
    if labels:
        config.id2label = dict(enumerate(labels))
        config.label2id = {label: i for i, label in enumerate(labels)}
    return config


def _train_a_little(model, tokenizer, rows: list[tuple[str, str]], labels: list[str], steps: int) -> None:
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    inputs = tokenizer(
        [t for t, _ in rows], truncation=True, max_length=16, padding=True, return_tensors="pt"
    )
    targets = torch.tensor([labels.index(label) for _, label in rows])
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        model(**inputs, labels=targets).loss.backward()
        optimizer.step()
    model.eval()


def save_text_classifier(
    directory: Path,
    *,
    labels: list[str] | None = ("neg", "pos"),
    train_steps: int = 15,
    seed: int = 0,
    model_max_length: int = 16,
) -> Path:
    """A tiny BERT sequence classifier with its tokenizer in directory; trained a few steps on sentiment rows.

    model_max_length: the tokenizer's limit, at most the config's 32 positions."""
    labels = list(labels) if labels else None
    rows = sentiment_rows(40)
    tokenizer = train_wordpiece([text for text, _ in rows], model_max_length=model_max_length)
    torch.manual_seed(seed)
    model = transformers.BertForSequenceClassification(tiny_bert_config(len(tokenizer), labels=labels))
    if train_steps:
        _train_a_little(model, tokenizer, rows, labels or ["neg", "pos"], train_steps)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    return directory


def save_text_encoder(directory: Path) -> Path:
    """A tiny bare BERT encoder (feature extraction: no classification head) with its tokenizer."""
    tokenizer = train_wordpiece([text for text, _ in sentiment_rows(40)])
    torch.manual_seed(0)
    model = transformers.BertModel(tiny_bert_config(len(tokenizer), labels=None))
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    return directory


def write_tsv(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("text\tlabel\n" + "".join(f"{t}\t{label}\n" for t, label in rows), encoding="utf-8")
    return path


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
