"""``RulePack``: the public face of a loaded pack."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from .budget import Budget
from .controller import evaluate_pack
from .errors import PackError, RuleError
from .loader import load_pack
from .questions import answer_question
from .results import Evaluation, ExampleResult, RuleAnswer
from .schema import ExampleSpec, PackSpec

PACKS_DIR = Path(__file__).resolve().parent / "packs"


class RulePack:
    """A validated rule pack. Build one with ``load``, ``from_string`` or ``load_builtin``."""

    def __init__(self, spec: PackSpec) -> None:
        self.spec = spec

    @classmethod
    def load(cls, path: str | Path) -> RulePack:
        """Load and check the pack at ``path``; raises PackError with file and line."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise PackError(f"cannot read rule pack: {error}", str(path)) from None
        return cls(load_pack(text, str(path)))

    @classmethod
    def from_string(cls, text: str, name: str = "<string>") -> RulePack:
        """Check a pack given as TOML text; ``name`` stands for the file in errors."""
        return cls(load_pack(text, name))

    @property
    def name(self) -> str:
        """The pack's declared name."""
        return self.spec.name

    @property
    def description(self) -> str:
        """What the pack is for, in one line."""
        return self.spec.description

    def evaluate(
        self,
        inputs: Mapping[str, object],
        facts: Iterable[str] = (),
        budget_ms: float | None = None,
    ) -> Evaluation:
        """Decide the pack's outputs for ``inputs`` (name -> value) and given flag ``facts``.

        Past ``budget_ms`` (default: DEFAULT_BUDGET_MS) the work stops with a BudgetError.
        """
        return evaluate_pack(self.spec, inputs, facts, Budget(budget_ms))

    def answer_question(
        self, question: str, context: str | None = None, budget_ms: float | None = None
    ) -> RuleAnswer | None:
        """Answer ``question`` (about the story ``context``, if any), or None if the pack cannot.

        Past ``budget_ms`` (default: DEFAULT_BUDGET_MS) the work stops with a BudgetError.
        """
        return answer_question(self.spec, question, context, Budget(budget_ms))

    def run_examples(self) -> list[ExampleResult]:
        """Run every ``[[example]]`` of the pack; a failing example never raises."""
        return [self._run_example(example) for example in self.spec.examples]

    def _run_example(self, example: ExampleSpec) -> ExampleResult:
        if example.question is not None:
            description = example.question
            expected = str(example.expect)
        else:
            description = ", ".join(f"{k}={v}" for k, v in example.inputs.items()) or "defaults"
            expected = _format_outputs(example.expect)
        try:
            got = self._example_answer(example)
        except RuleError as error:
            got = f"error: {error}"
        return ExampleResult(example.line, description, expected, got, got == expected)

    def _example_answer(self, example: ExampleSpec) -> str:
        if example.question is not None:
            answer = self.answer_question(example.question, example.story)
            return answer.answer if answer is not None else "(no answer)"
        evaluation = self.evaluate(example.inputs, example.facts)
        return _format_outputs(
            {output: evaluation.answer(output) or "(undecided)" for output in example.expect}
        )


def _format_outputs(outputs: Mapping[str, str]) -> str:
    return ", ".join(f"{output} = {value}" for output, value in sorted(outputs.items()))


def builtin_names() -> list[str]:
    """The names of the packs shipped with edge-reason."""
    return sorted(path.stem for path in PACKS_DIR.glob("*.toml"))


def load_builtin(name: str) -> RulePack:
    """Load a shipped pack by name, e.g. ``load_builtin("arithmetic")``."""
    path = PACKS_DIR / f"{name}.toml"
    if not path.is_file():
        raise PackError(
            f"no built-in pack {name!r} (available: {', '.join(builtin_names())})", name
        )
    return RulePack.load(path)
