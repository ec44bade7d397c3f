"""Shared fixtures: the data folder, and a tiny Llama trained on bAbI task 1 (cached)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from helpers.progress import building

from edge_reason.engine import Generation, GenerationStats, PromptState
from edge_reason.reasoning.datasets import Problem, read_babi
from edge_reason.reasoning.prompts import BUILTIN_FORMATS

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
QA1 = DATA / "babi" / "train" / "qa1_single-supporting-fact_train.txt"
GSM8K = DATA / "gsm8k" / "train.jsonl"

# Everything that shapes the trained model; its hash names the cache folder.
RECIPE = {
    "data": QA1.name,
    "held_out": 0.1,  # the last 10% of the questions are never trained on
    "format": BUILTIN_FORMATS["babi"].template,
    "hidden": 64,
    "ffn": 192,
    "layers": 2,
    "heads": 4,
    "steps": 500,
    "batch": 64,
    "lr": 3e-3,
    "seed": 0,
    "version": 1,
}
# A few steps of the same: the model writes bAbI-shaped text, mostly wrong.
QUICK_RECIPE = {**RECIPE, "steps": 40}


def babi_split() -> tuple[list[Problem], list[Problem]]:
    """qa1 questions: (training part, held-out last part)."""
    problems = read_babi(QA1)
    cut = int(len(problems) * (1 - RECIPE["held_out"]))
    return problems[:cut], problems[cut:]


def _train(folder: Path, recipe: dict) -> None:
    """Train the tiny model on "story, question -> Facts: N. Answer: word" and save it."""
    import torch
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    train, _ = babi_split()
    babi = BUILTIN_FORMATS["babi"]
    prompts = [babi.render(p.question, p.context) for p in train]
    targets = [p.babi_chain for p in train]
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=["<pad>", "<eos>", "<unk>"])
    tokenizer.train_from_iterator(prompts + targets, trainer)
    eos = tokenizer.token_to_id("<eos>")
    rows = []
    for prompt, target in zip(prompts, targets, strict=True):
        context, answer = tokenizer.encode(prompt).ids, tokenizer.encode(target).ids + [eos]
        rows.append((context + answer, [-100] * len(context) + answer))

    torch.manual_seed(recipe["seed"])
    torch.set_num_threads(2)
    config = transformers.LlamaConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=recipe["hidden"],
        intermediate_size=recipe["ffn"],
        num_hidden_layers=recipe["layers"],
        num_attention_heads=recipe["heads"],
        num_key_value_heads=recipe["heads"],
        max_position_embeddings=256,
        eos_token_id=eos,
        bos_token_id=None,
        pad_token_id=tokenizer.token_to_id("<pad>"),
        tie_word_embeddings=True,
    )
    model = transformers.LlamaForCausalLM(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe["lr"], weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe["lr"], total_steps=recipe["steps"], pct_start=0.1
    )
    shuffle = random.Random(recipe["seed"])
    model.train()
    with building(
        f"bAbI qa1 model for tests/reasoning ({recipe['steps']} steps)", recipe["steps"]
    ) as progress:
        for step in range(recipe["steps"]):
            progress.advance(step)
            batch = shuffle.sample(rows, recipe["batch"])
            width = max(len(ids) for ids, _ in batch)
            ids = torch.tensor([i + [eos] * (width - len(i)) for i, _ in batch])
            labels = torch.tensor([lb + [-100] * (width - len(lb)) for _, lb in batch])
            loss = model(input_ids=ids, labels=labels).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "recipe.json").write_text(json.dumps({**recipe, "final_loss": loss.item()}))


def trained_babi_model(recipe: dict = RECIPE) -> Path:
    """The cached model folder for `recipe`, trained first if missing."""
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    cache = Path(os.environ.get("EDGE_REASON_CACHE", Path.home() / ".cache" / "edge-reason"))
    folder = cache / "test-models" / f"babi-qa1-{key}"
    if not (folder / "recipe.json").is_file():
        scratch = folder.with_name(f"{folder.name}.{os.getpid()}.{time.time_ns()}")
        scratch.mkdir(parents=True)
        _train(scratch, recipe)
        shutil.rmtree(folder, ignore_errors=True)
        scratch.rename(folder)  # atomic: a half-trained folder is never seen as done
    return folder


@pytest.fixture(scope="session")
def babi_model_dir() -> Path:
    """The model trained on RECIPE (minutes of CPU): for tests of what it learned (slow tier)."""
    return trained_babi_model()


@pytest.fixture(scope="session")
def babi_quick_model_dir() -> Path:
    """The same model and tokenizer trained briefly (QUICK_RECIPE, seconds): for tests of the
    commands around a model, which do not depend on its answers being right."""
    return trained_babi_model(QUICK_RECIPE)


@pytest.fixture(scope="session")
def gsm8k_problems() -> list[Problem]:
    from edge_reason.reasoning.datasets import read_gsm8k

    return read_gsm8k(GSM8K)


@pytest.fixture(scope="session")
def gsm8k_path() -> Path:
    return GSM8K


@pytest.fixture(scope="session")
def babi_held_out() -> list[Problem]:
    return babi_split()[1]


class FakeEngine:
    """Stands in for Engine where a test needs a scripted model: characters are tokens, and
    ``write(prompt, written, temperature, seed)`` returns what the "model" writes next, given
    the prompt (the last text prefilled from scratch) and what it has written after it so far.
    ``peak`` is the character the logits strongly favour (None: flat, so the model is unsure
    of everything). ``next_logits(prompt, written)``, if given, gives the logits instead, as
    ``chain_distribution`` makes them."""

    eos_token_ids = frozenset({0})

    def __init__(self, write, peak: str | None = None, next_logits=None) -> None:
        self.write = write
        self.peak = peak
        self.next_logits = next_logits
        self.tokens_evaluated = 0
        self.generations: list[Generation] = []
        self.prompts: list[str] = []

    def info(self) -> dict[str, int]:
        return {"max_context": 100_000}

    def encode(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    def decode(self, ids) -> str:
        return "".join(chr(i) for i in ids)

    def _logits(self) -> np.ndarray:
        logits = np.zeros(256, dtype=np.float32)
        if self.peak is not None:
            logits[ord(self.peak)] = 8.0
        return logits

    def prefill(self, prompt, *, prefix: PromptState | None = None) -> PromptState:
        ids = self.encode(prompt) if isinstance(prompt, str) else list(prompt)
        before = prefix.token_ids if prefix is not None else ()
        if len(before) + len(ids) > self.info()["max_context"]:  # as Engine refuses it
            raise ValueError(f"the prompt has {len(before) + len(ids)} tokens, past max_context")
        self.tokens_evaluated += len(ids)
        if prefix is None:
            self.prompts.append(self.decode(ids))
        state = PromptState(tuple(before) + tuple(ids), self._logits())
        if self.next_logits is not None:
            state = PromptState(state.token_ids, self.next_logits(*self._split(state)))
        return state

    def _split(self, state: PromptState) -> tuple[str, str]:
        """(prompt, written after it) for a state."""
        sequence = self.decode(state.token_ids)
        prompt = max((p for p in self.prompts if sequence.startswith(p)), key=len)
        return prompt, sequence[len(prompt) :]

    def generate(self, state: PromptState, *, max_new_tokens, temperature, seed, stop, **_):
        prompt, written = self._split(state)
        text = self.write(prompt, written, temperature, seed)[:max_new_tokens]
        cuts = [(text.find(s), s) for s in stop if s in text]
        finish, ids = "eos", self.encode(text)
        if cuts:
            cut, hit = min(cuts)
            text, finish, ids = text[:cut], "stop", self.encode(text[:cut] + hit)
        self.tokens_evaluated += max(len(ids) - 1, 0)
        stats = GenerationStats(len(state.token_ids), len(ids), 0.0, 0.001 * len(ids), 0)
        generation = Generation(text, ids, stats, finish)
        self.generations.append(generation)
        return generation


def chain_distribution(chains: dict[str, float]):
    """A model that writes one of ``chains`` (any prompt) with the given probabilities, as
    FakeEngine's ``next_logits``: after a written prefix, each next character (or the end, id
    0) has the summed probability of the chains that continue that way."""

    def next_logits(prompt: str, written: str) -> np.ndarray:
        mass = np.full(256, 1e-9)
        for chain, probability in chains.items():
            if chain == written:
                mass[0] += probability
            elif chain.startswith(written):
                mass[ord(chain[len(written)])] += probability
        return np.log(mass).astype(np.float32)

    return next_logits


@pytest.fixture
def fake_engine():
    """The FakeEngine class (tests build one with their own script)."""
    return FakeEngine


@pytest.fixture
def chain_model():
    """chain_distribution, for FakeEngine's ``next_logits``."""
    return chain_distribution
