"""Fixtures for the export tests: random-weight models, a small trained model
(cached across runs), calibration text, and bundles exported once per session."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.hf_models import build_model
from helpers.progress import building

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
BABI_QA1 = DATA / "babi" / "train" / "qa1_single-supporting-fact_train.txt"

# The trained model: a tiny Llama on bAbI task 1 traces (story, question, the
# supporting fact, answer). Changing anything here changes the cache key, so a
# stale model is never reused.
TRAINED_RECIPE = {
    "data": "babi qa1 traces[:9000]",
    "vocab_size": 256,
    "hidden_size": 128,
    "intermediate_size": 344,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "steps": 300,
    "batch": 16,
    "sequence": 128,
    "lr": 3e-3,
    "seed": 0,
}
TRAIN_TRACES = 9000  # the first 90% of the 10,000 questions; the rest is the validation split
CALIBRATION_TRACES = 300  # validation traces in the calibration file (~15k tokens)


def babi_traces() -> list[str]:
    """One line per question: the story so far, the question, the supporting fact, the answer."""
    traces, story = [], {}
    for line in BABI_QA1.read_text().splitlines():
        number, text = line.split(" ", 1)
        if number == "1":
            story = {}
        if "\t" in text:
            question, answer, facts = text.split("\t")
            because = " ".join(story[f] for f in facts.split())
            traces.append(f"{' '.join(story.values())} {question.strip()} {because} {answer}.")
        else:
            story[number] = text
    return traces


def _cache_root() -> Path:
    root = os.environ.get("EDGE_REASON_CACHE") or Path.home() / ".cache" / "edge-reason"
    return Path(root) / "test-models"


def _train(folder: Path) -> None:
    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    r = TRAINED_RECIPE
    texts = babi_traces()[:TRAIN_TRACES]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=r["vocab_size"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            special_tokens=["<eos>"],
        ),
    )
    stream = torch.tensor([t for text in texts for t in tok.encode(text + "\n").ids + [0]])
    config = transformers.LlamaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=r["hidden_size"],
        intermediate_size=r["intermediate_size"],
        num_hidden_layers=r["num_hidden_layers"],
        num_attention_heads=r["num_attention_heads"],
        num_key_value_heads=r["num_key_value_heads"],
        max_position_embeddings=512,
        eos_token_id=0,
        bos_token_id=None,
        tie_word_embeddings=False,
    )
    torch.manual_seed(r["seed"])
    model = transformers.LlamaForCausalLM(config)
    opt = torch.optim.AdamW(model.parameters(), lr=r["lr"], weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=r["lr"], total_steps=r["steps"])
    n = r["sequence"]
    with building("bAbI Llama for tests/export", r["steps"]) as progress:
        for step in range(r["steps"]):
            progress.advance(step)
            starts = torch.randint(0, len(stream) - n - 1, (r["batch"],))
            batch = torch.stack([stream[s : s + n] for s in starts.tolist()])
            loss = model(input_ids=batch, labels=batch).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.config.architectures = ["LlamaForCausalLM"]
    model.save_pretrained(folder, safe_serialization=True)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "final_loss.txt").write_text(f"{loss.item():.4f}\n")


@pytest.fixture(scope="session")
def trained_model() -> Path:
    """A tiny Llama trained on bAbI reasoning traces, built once and cached."""
    key = hashlib.sha256(json.dumps(TRAINED_RECIPE, sort_keys=True).encode()).hexdigest()[:16]
    folder = _cache_root() / f"babi-llama-{key}"
    if not (folder / "tokenizer.json").is_file():
        partial = folder.with_name(folder.name + f".partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        _train(partial)
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    return folder


@pytest.fixture(scope="session")
def validation_traces() -> list[str]:
    """bAbI task 1 traces the trained model never saw."""
    return babi_traces()[TRAIN_TRACES:]


@pytest.fixture(scope="session")
def calibration_file(tmp_path_factory: pytest.TempPathFactory, validation_traces) -> Path:
    """Reasoning traces from the validation split."""
    path = tmp_path_factory.mktemp("calibration") / "babi-qa1-validation.txt"
    path.write_text("\n".join(validation_traces[:CALIBRATION_TRACES]) + "\n")
    return path


@pytest.fixture(scope="session")
def random_model(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """name -> a random-weight model folder (helpers.hf_models), built once."""
    root = tmp_path_factory.mktemp("random-models")
    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in built:
            built[name] = build_model(root / name, name, seed=1)
        return built[name]

    return get


@pytest.fixture(scope="session")
def export(tmp_path_factory: pytest.TempPathFactory, calibration_file: Path) -> Callable[..., Path]:
    """(model folder, quant, method) -> its bundle, exported once per session."""
    from edge_reason.export.pipeline import ExportRequest, export_bundle

    root = tmp_path_factory.mktemp("bundles")
    done: dict[tuple[Path, str, str], Path] = {}

    def get(model: Path, quant: str, method: str = "rtn") -> Path:
        key = (model, quant, method)
        if key not in done:
            out = root / f"{model.name}-{quant}-{method}"
            export_bundle(ExportRequest(model, out, quant, method, calibration_file))
            done[key] = out
        return done[key]

    return get
