"""The model that ships in the package: it loads from the installed package, its checksums
verify, it carries its evaluation, and it answers fixed validation questions through the
installed ``edge-reason ask --json`` with its own, verified reasoning.

The questions are identified by where they are in ../shared/data (the data is never copied
into the repository); their stories and gold answers are read from there. They were picked
among the validation questions the shipped model answered correctly when it was bundled, with
a verified step, none failed and a confidence of at least 0.9 (so that no near tie decides
them): this is an installation and regression test (the same bytes give the same answers on
any machine the kernels support); the model's quality is what its bundle.json evaluation
reports.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from edge_reason.export.recipes.babi_arith.settings import load_settings
from edge_reason.export.recipes.babi_arith.stages import Recipe

import edge_reason
from edge_reason.bundle import Bundle
from edge_reason.default_model import default_model_path, load_default_engine
from edge_reason.errors import EdgeReasonError
from edge_reason.reasoning.reasoner import Reasoner

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / ".." / "shared" / "data"
MAX_BYTES = 16_000_000

# bAbI validation questions ("file:first line of the story+id of the question line") and
# addition problems (as the model is asked them) from the validation split
BABI_QUESTIONS = [
    "qa1_single-supporting-fact_train.txt:27001+3",
    "qa2_two-supporting-facts_train.txt:48609+7",
    "qa4_two-arg-relations_train.txt:27001+3",
    "qa5_three-arg-relations_train.txt:57903+21",
    "qa6_yes-no-questions_train.txt:27547+5",
    "qa7_counting_train.txt:32399+3",
    "qa10_indefinite-knowledge_train.txt:27001+3",
    "qa11_basic-coreference_train.txt:27001+3",
    "qa12_conjunction_train.txt:27001+3",
    "qa13_compound-coreference_train.txt:27001+3",
    "qa14_time-reasoning_train.txt:30063+5",
    "qa15_basic-deduction_train.txt:27001+9",
    "qa16_basic-induction_train.txt:90011+10",
    "qa20_agents-motivations_train.txt:17981+2",
]
ADDITIONS = ["8+0", "38+37", "388+740"]
# tasks whose answers nothing recomputes: the babi rule pack cannot read their stories
# (relations, coreference, conjunction: a cited line can be seen to mention the answer, not
# to still hold), or only guesses (induction): the right answer is shown unchecked
UNCHECKED_TASKS = ("qa4_", "qa11_", "qa12_", "qa13_", "qa16_")


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    path = default_model_path()
    assert path is not None, "the package carries no default model"
    return Bundle.open(path)  # verifies every file's sha256


def test_the_model_loads_from_the_installed_package(bundle: Bundle) -> None:
    path = default_model_path()
    assert path is not None
    if Path(edge_reason.__file__).is_relative_to(REPO):
        pytest.skip("edge_reason runs from this checkout (an editable install): no installed copy")
    assert not path.is_relative_to(REPO), path
    assert bundle.quant == "int4"
    assert sum(p.stat().st_size for p in path.iterdir()) <= MAX_BYTES
    recipe = bundle.manifest["recipe"]
    assert recipe["name"] == "babi_arith" and recipe["smoke"] is False
    engine = load_default_engine(threads=1)
    assert engine is not None and engine.info()["max_context"] >= 2300  # task 3's stories


def test_the_committed_recipe_is_the_one_that_made_it(bundle: Bundle, tmp_path: Path) -> None:
    # The READMEs give this run's stage times and numbers as those of `recipe.toml` as
    # committed: a changed setting must come with a model made by it.
    recipe = Recipe(work=tmp_path, data_root=DATA, settings=load_settings())
    assert bundle.manifest["recipe"]["settings_digest"] == recipe.digest("bundle")


def test_the_bundle_carries_its_evaluation(bundle: Bundle) -> None:
    evaluation = bundle.manifest["quality"]["evaluation"]
    assert set(evaluation["models"]) == {"teacher_f32", "student_f32", "student_int4"}
    for model in evaluation["models"].values():
        for strategy in ("direct", "cot", "self_consistency"):
            report = model["strategies"][strategy]
            assert len(report["babi"]["per_task_error"]) == 20
            assert set(report["addition"]["by_digits"]) >= {"1", "2", "3", "4"}
    assert evaluation["summary"]["student_int4"]["median_cot_latency_ms"] > 0


def test_a_changed_byte_is_refused(bundle: Bundle, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(bundle.folder, copy)
    data = copy / "model.onnx.data"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 1
    data.write_bytes(bytes(raw))
    with pytest.raises(EdgeReasonError, match="model.onnx.data"):
        Bundle.open(copy)


def test_reasoner_uses_it_by_default() -> None:
    reasoner = Reasoner()
    assert reasoner.engine is not None
    assert reasoner.engine.manifest["recipe"]["name"] == "babi_arith"
    assert Reasoner(None).engine is None
    with pytest.raises(ValueError, match='"default" or None'):
        Reasoner("babi")  # type: ignore[arg-type]


def _babi_question(where: str) -> tuple[str, str, str]:
    """The story, question and gold answer at ``where`` ("file:first line of the story+id of
    the question line", the notation of the recipe's validation split)."""
    file, position = where.split(":")
    start, question_id = (int(n) for n in position.split("+"))
    lines = (DATA / "babi" / "train" / file).read_text().splitlines()
    story = lines[start - 1 : start - 1 + question_id]
    question, answer = story[-1].split(" ", 1)[1].split("\t")[:2]
    statements = [line for line in story[:-1] if "\t" not in line]
    return "\n".join(statements), question.strip(), answer.strip()


def _ask(question: str, *extra: str) -> dict:
    # the script installed beside this interpreter, not another environment's on PATH
    script = Path(sys.executable).with_name("edge-reason")
    command = [str(script) if script.exists() else "edge-reason", "ask", "--json", *extra]
    done = subprocess.run(
        [*command, "--strategy", "cot", "--", question],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("where", BABI_QUESTIONS)
def test_a_babi_question_is_answered_by_the_model_with_verified_citations(
    where: str, tmp_path: Path
) -> None:
    story, question, gold = _babi_question(where)
    context = tmp_path / "story.txt"
    context.write_text(story + "\n")
    answer = _ask(question, "--context", str(context))
    assert (answer["answer"], answer["source"]) == (gold, "model"), answer
    if where.startswith(UNCHECKED_TASKS):
        assert not answer["verified"] and "unchecked" in answer["not_verified"], answer
        assert "failed" not in [step["status"] for step in answer["steps"]]
    else:
        _assert_checked(answer)


@pytest.mark.parametrize("problem", ADDITIONS)
def test_an_addition_is_answered_by_the_model_with_a_verified_scratchpad(problem: str) -> None:
    left, right = (int(n) for n in problem.split("+"))
    answer = _ask(problem)
    assert (answer["answer"], answer["source"]) == (str(left + right), "model"), answer
    _assert_checked(answer)


def _assert_checked(answer: dict) -> None:
    """The verifier checked every step (cited facts, the scratchpad) and each holds."""
    statuses = [step["status"] for step in answer["steps"]]
    assert answer["verified"] and set(statuses) == {"verified"}, answer["steps"]
