"""A small trained teacher (cached across runs) and a student config for distillation tests."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from edge_reason.export.distill_data import BlockSchedule, pack, read_records
from helpers.progress import building
from tokenizers import Tokenizer, models, pre_tokenizers

BABI_QA1 = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "data"
    / "babi"
    / "train"
    / "qa1_single-supporting-fact_train.txt"
)
EOS = "<eos>"
# The fields the teacher and the student have in common.
_LLAMA = dict(
    model_type="llama",
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=128,
    rms_norm_eps=1e-5,
    eos_token_id=0,
    bos_token_id=None,
)
TEACHER_CONFIG = _LLAMA | dict(
    hidden_size=64, intermediate_size=128, num_hidden_layers=2, tie_word_embeddings=False
)
# 150 steps of 16 x 32 tokens: 77k tokens, a third of qa1's training file (its
# 38 words repeat in a few templates): a clearly non-uniform teacher in ~30 s of CPU.
TEACHER_TRAINING = dict(steps=150, batch_size=16, seq_len=32, lr=3e-3, seed=0)
STUDENT_CONFIG = _LLAMA | dict(
    hidden_size=32, intermediate_size=64, num_hidden_layers=1, tie_word_embeddings=True
)


def babi_lines() -> Path:
    if not BABI_QA1.is_file():
        pytest.fail(f"{BABI_QA1}: the shared data folder is missing (CI clones it beside the repo)")
    return BABI_QA1


def word_tokenizer(data: Path) -> Tokenizer:
    """Word-level: every word and punctuation mark of the data, <eos> first (id 0)."""
    words = set()
    splitter = pre_tokenizers.Whitespace()
    for record in read_records(data):
        words.update(piece for piece, _ in splitter.pre_tokenize_str(record.text))
    vocab = {EOS: 0, "<unk>": 1} | {w: i + 2 for i, w in enumerate(sorted(words))}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = splitter
    return tokenizer


def train_teacher(folder: Path, data: Path) -> None:
    import transformers

    tokenizer = word_tokenizer(data)
    fields = dict(TEACHER_CONFIG)
    config = transformers.AutoConfig.for_model(
        fields.pop("model_type"), vocab_size=tokenizer.get_vocab_size(), **fields
    )
    run = TEACHER_TRAINING
    torch.manual_seed(run["seed"])
    model = transformers.LlamaForCausalLM(config)
    traces = [tokenizer.encode(r.text).ids for r in read_records(data)]
    blocks = torch.from_numpy(pack(traces, 0, run["seq_len"], str(data)))
    schedule = BlockSchedule(len(blocks), run["batch_size"], run["seed"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=run["lr"])
    with building("bAbI teacher for tests/distill", run["steps"]) as progress:
        for step in range(run["steps"]):
            progress.advance(step)
            batch = blocks[schedule.batch(step, 0, 1)]
            loss = model(batch[:, :-1], labels=batch[:, :-1].clone()).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save(str(folder / "tokenizer.json"))


@pytest.fixture(scope="session")
def teacher_dir() -> Path:
    """The trained teacher, from the cache when this recipe was trained before."""
    data = babi_lines()
    recipe = {
        "config": TEACHER_CONFIG,
        "training": TEACHER_TRAINING,
        "data_sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
        "torch": torch.__version__,
    }
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    cache = Path(os.environ.get("EDGE_REASON_CACHE", Path.home() / ".cache" / "edge-reason"))
    folder = cache / "test-models" / f"babi-teacher-{digest}"
    if not (folder / "tokenizer.json").is_file():
        partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        train_teacher(partial, data)
        try:
            os.replace(partial, folder)
        except OSError:  # another run finished the same recipe first
            shutil.rmtree(partial)
    return folder


@pytest.fixture(scope="session")
def student_config(teacher_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    vocab = json.loads((teacher_dir / "config.json").read_text())["vocab_size"]
    path = tmp_path_factory.mktemp("student") / "student.json"
    path.write_text(json.dumps(STUDENT_CONFIG | {"vocab_size": vocab}))
    return path
