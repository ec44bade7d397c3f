"""Shipped packs pass their examples; the pack API decides, explains and answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from edge_reason.heuristics import InputError, RulePack, builtin_names, load_builtin


def test_at_least_the_three_documented_packs_ship() -> None:
    assert {"arithmetic", "greenhouse", "babi"} <= set(builtin_names())


@pytest.mark.parametrize("name", builtin_names())
def test_every_shipped_example_passes(name: str) -> None:
    results = load_builtin(name).run_examples()
    assert results, f"pack {name} has no examples"
    failures = [
        f"line {r.line}: {r.description}: {r.got} != {r.expected}" for r in results if not r.passed
    ]
    assert not failures, "\n".join(failures)


def test_arithmetic_answers_exactly_with_a_trace() -> None:
    answer = load_builtin("arithmetic").answer_question("What is 17*23 + 4?")
    assert answer is not None
    assert (answer.answer, answer.value, answer.rule_id) == ("395", 395, "calculate")
    assert answer.trace
    assert load_builtin("arithmetic").answer_question("Who wrote Hamlet?") is None


def test_frost_protection_overrides_irrigation_and_says_so() -> None:
    pack = load_builtin("greenhouse")
    evaluation = pack.evaluate(
        {"soil_moisture": 20, "temperature": 1, "humidity": 60, "time": "06:30"}
    )
    irrigation = evaluation.decisions["irrigation"]
    assert (irrigation.answer, irrigation.rule_id, irrigation.priority) == (
        "off",
        "frost_protection",
        100,
    )
    assert any("detect_frost" in step and "temperature = 1 C" in step for step in irrigation.trace)
    assert any("overrides rule 'water_dry_soil'" in step for step in irrigation.trace)
    assert "frost_risk" in evaluation.facts
    assert any(c.rule_id == "water_dry_soil" for c in evaluation.overridden)


def test_inputs_with_units_are_converted_and_range_checked() -> None:
    pack = load_builtin("greenhouse")
    common = {"soil_moisture": 50, "humidity": 50, "time": "12:00"}
    assert pack.evaluate({**common, "temperature": "95 F"}).answer("vents") == "open"
    with pytest.raises(InputError, match="outside its range"):
        pack.evaluate({**common, "temperature": 80})
    with pytest.raises(InputError, match="unknown input 'temp'"):
        pack.evaluate({**common, "temp": 20})
    with pytest.raises(InputError, match="'temperature' is required"):
        pack.evaluate(common)
    with pytest.raises(InputError, match="cannot convert"):
        pack.evaluate({**common, "temperature": "3 kg"})


def test_babi_pack_tracks_objects_with_their_holder() -> None:
    pack = load_builtin("babi")
    story = "\n".join(
        [
            "1 John picked up the milk there.",
            "2 John went to the office.",
            "3 Daniel journeyed to the office.",
            "4 John discarded the milk.",
            "5 John moved to the garden.",
        ]
    )
    where = pack.answer_question("Where is the milk?", story)
    assert where is not None and where.answer == "office"
    assert where.sources == (1, 2)
    carrying = pack.answer_question("What is John carrying?", story)
    assert carrying is not None and carrying.answer == "nothing"
    assert pack.answer_question("Where is Sandra?", story) is None


def test_from_string_names_the_pack_in_errors() -> None:
    pack = RulePack.from_string('[pack]\nname = "tiny"\n', name="tiny.toml")
    assert pack.name == "tiny"
    assert pack.run_examples() == []


def test_the_readme_example_pack_loads_and_passes() -> None:
    readme = Path(__file__).resolve().parents[2] / "heuristics" / "README.md"
    text = readme.read_text(encoding="utf-8")
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    results = RulePack.from_string(example, name="README.md").run_examples()
    assert results and all(result.passed for result in results)
