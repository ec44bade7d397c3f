"""The recipe's training format agrees with what the reasoning layer asks and checks."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from edge_reason.export.recipes.babi_arith.addition import read_additions
from edge_reason.export.recipes.babi_arith.documents import addition_document, story_document
from edge_reason.export.recipes.babi_arith.evaluation import best_strategy
from edge_reason.export.recipes.babi_arith.packing import encode_document, make_batch, pack
from edge_reason.export.recipes.babi_arith.settings import (
    DEFAULT_CONFIG,
    SettingsError,
    load_settings,
)
from edge_reason.export.recipes.babi_arith.stages import STAGES, Recipe
from edge_reason.export.recipes.babi_arith.stories import read_stories
from edge_reason.export.recipes.babi_arith.tokenizer import EOS, load_tokenizer
from edge_reason.heuristics import load_builtin

from edge_reason.reasoning.extract import extract_answer
from edge_reason.reasoning.prompts import BUILTIN_FORMATS
from edge_reason.reasoning.verifier import Chain, FactCitations, Verifier, check_arithmetic

ADDITIONS = "arithmetic/scratchpad/add_examples_algorithmic_1000.txt"


def _stories(data_root: Path, task: str, count: int) -> list:
    (path,) = (data_root / "babi" / "train").glob(f"{task}_*_train.txt")
    return read_stories(path)[:count]


def _visible(document_blocks: np.ndarray, block: int) -> np.ndarray:
    """Indices of the tokens question ``block`` reads: the statements before it, then itself."""
    first = np.flatnonzero(document_blocks == block)[0]
    before = np.flatnonzero(document_blocks[:first] == 0)
    return np.concatenate([before, np.flatnonzero(document_blocks == block)])


def test_question_blocks_tokenize_as_the_rendered_prompt_and_chain(
    data_root: Path, tokenizer_file: Path
) -> None:
    """Segment-wise tokenization gives what the engine gets: the format's whole prompt,
    then the chain, then end-of-sequence."""
    tokenizer = load_tokenizer(tokenizer_file)
    eos = tokenizer.token_to_id(EOS)
    for story in _stories(data_root, "qa3", 1) + _stories(data_root, "qa19", 2):
        document = encode_document(story_document(story), tokenizer, eos)
        for block, problem in enumerate(story.problems(), start=1):
            prompt = BUILTIN_FORMATS["babi"].render(problem.question, problem.context)
            seen = _visible(document.blocks, block)
            assert document.ids[seen].tolist() == (
                tokenizer.encode(prompt + problem.babi_chain).ids + [eos]
            )
            assert document.positions[seen].tolist() == list(range(seen.size))


def test_packed_question_blocks_compute_what_inference_computes(
    data_root: Path, tokenizer_file: Path
) -> None:
    """Under the packed mask and positions, every question block gets the logits the model
    gives its prompt and chain alone: training sees what inference sees."""
    tokenizer = load_tokenizer(tokenizer_file)
    stories = _stories(data_root, "qa2", 2) + _stories(data_root, "qa1", 1)
    encoded = [encode_document(story_document(s), tokenizer, 2) for s in stories]
    (packed,) = pack(encoded, (4096,))
    config = transformers.LlamaConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=4096,
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).eval()
    with torch.no_grad():
        packed_logits = model(**make_batch(packed, np.array([0])).model_inputs()).logits[0]
    checked = 0
    offset = 0
    for document in encoded:
        for block in range(1, int(document.blocks.max()) + 1):
            seen = _visible(document.blocks, block)
            with torch.no_grad():
                alone = model(torch.from_numpy(document.ids[seen])[None]).logits[0]
            torch.testing.assert_close(packed_logits[offset + seen], alone, atol=1e-4, rtol=1e-4)
            checked += 1
        offset += len(document)
    assert checked > 5


def test_decoding_gives_back_the_text(tokenizer_file: Path) -> None:
    tokenizer = load_tokenizer(tokenizer_file)
    text = "12 Mary went to the kitchen.\nWhere is Mary?\nFacts: 4 11.\nAnswer: kitchen"
    assert tokenizer.decode(tokenizer.encode(text).ids) == text
    assert tokenizer.decode(tokenizer.encode("98765+1234").ids) == "98765+1234"


def test_addition_chains_verify_step_by_step(data_root: Path) -> None:
    for problem in read_additions(data_root / ADDITIONS)[:50]:
        chain = problem.chain()
        findings = check_arithmetic(Chain(chain))
        assert len(findings) == len(problem.scratch) - 3  # one sum per column
        assert all(f.ok for f in findings), chain
        assert extract_answer(chain, "number") == problem.answer
        prompt = addition_document(problem).segments[0].text
        assert prompt == BUILTIN_FORMATS["gsm8k"].render(problem.question)


def test_a_wrong_column_sum_is_caught_and_repaired(data_root: Path) -> None:
    problem = read_additions(data_root / ADDITIONS)[1]  # 638+662: 8+2+0=10
    wrong = problem.chain().replace("8+2+0=10", "8+2+0=11")
    (failure,) = [f for f in check_arithmetic(Chain(wrong)) if not f.ok]
    assert failure.repair == "10"


def test_gold_babi_chains_pass_the_citation_check(data_root: Path) -> None:
    verifier = Verifier([FactCitations(load_builtin("babi"))])
    for story in _stories(data_root, "qa1", 5):
        for problem in story.problems():
            chain = problem.babi_chain
            answer = extract_answer(chain, "word")
            assert answer == problem.answer
            check = verifier.verify(
                chain, question=problem.question, context=problem.context, answer=answer
            )
            assert check.ok, (chain, check.findings)


def test_settings_errors_name_file_and_line(tmp_path: Path) -> None:
    from edge_reason.export.recipes.babi_arith.settings import DEFAULT_CONFIG

    text = DEFAULT_CONFIG.read_text()
    bad = tmp_path / "recipe.toml"
    bad.write_text(text.replace("validation_fraction = 0.1", "validation_fraction = 2"))
    line = text.splitlines().index("validation_fraction = 0.1") + 1
    with pytest.raises(SettingsError, match=rf"recipe.toml:{line}: \[data\] validation_fraction"):
        load_settings(bad)
    bad.write_text(text.replace('init = "pruned"', 'init = "distilled"'))
    with pytest.raises(SettingsError, match=r"\[student.distillation\] init: must be one of"):
        load_settings(bad)
    bad.write_text(text + "\n[smoke.quantize.extra]\nx = 1\n")
    with pytest.raises(SettingsError, match="smoke override 'quantize.extra' has no base"):
        load_settings(bad, smoke=True)


def test_smoke_settings_change_the_digest() -> None:
    assert load_settings().digest(("data",)) != load_settings(smoke=True).digest(("data",))


def _recipe_with(tmp_path: Path, old: str, new: str) -> Recipe:
    text = DEFAULT_CONFIG.read_text()
    assert old in text
    changed = tmp_path / "recipe.toml"
    changed.write_text(text.replace(old, new, 1))
    return Recipe(tmp_path, tmp_path, load_settings(changed))


def test_a_stage_digest_covers_its_own_settings_and_those_before_it(tmp_path: Path) -> None:
    base = Recipe(tmp_path, tmp_path, load_settings())
    evaluation = _recipe_with(tmp_path, "latency_questions = 50", "latency_questions = 51")
    for stage in ("prepare", "tokenizer", "teacher", "student", "quantize"):
        assert evaluation.digest(stage) == base.digest(stage)
    for stage in ("evaluate", "bundle"):
        assert evaluation.digest(stage) != base.digest(stage)
    data = _recipe_with(tmp_path, "addition_examples = 5000", "addition_examples = 4000")
    assert all(data.digest(stage) != base.digest(stage) for stage in STAGES)


def test_a_checkpoint_survives_a_new_run_length_but_a_finished_stage_does_not(
    tmp_path: Path,
) -> None:
    base = Recipe(tmp_path, tmp_path, load_settings())
    teacher_epochs = re.search(
        r"\[teacher\.training\][^\[]*?(epochs = [0-9.]+)", DEFAULT_CONFIG.read_text()
    )
    assert teacher_epochs is not None
    longer = _recipe_with(tmp_path, teacher_epochs[1], "epochs = 40.0")
    assert longer.digest("teacher", ignore_run_lengths=True) == base.digest(
        "teacher", ignore_run_lengths=True
    )
    assert longer.digest("teacher") != base.digest("teacher")
    other = _recipe_with(tmp_path, "lr = 1e-3", "lr = 2e-3")
    assert other.digest("teacher", ignore_run_lengths=True) != base.digest(
        "teacher", ignore_run_lengths=True
    )


def test_the_best_strategy_passes_most_tasks_then_errs_least_then_costs_least() -> None:
    def report(**scores: tuple[int, float]) -> dict:
        strategies = {
            name: {"babi": {"tasks_passed": passed, "mean_error": error}}
            for name, (passed, error) in scores.items()
        }
        return {"models": {"m": {"strategies": strategies}}}

    assert (
        best_strategy(report(direct=(7, 0.3), cot=(13, 0.1), self_consistency=(9, 0.2)), "m")
        == "cot"
    )
    assert (
        best_strategy(report(direct=(7, 0.3), cot=(9, 0.1), self_consistency=(9, 0.2)), "m")
        == "cot"
    )
    assert (
        best_strategy(report(direct=(9, 0.1), cot=(9, 0.1), self_consistency=(9, 0.1)), "m")
        == "direct"
    )
