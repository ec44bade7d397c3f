"""The Reasoner: asks the model for checked reasoning, or answers from rules and tools.

>>> reasoner = Reasoner(None)                   # no model: rule packs and tools
>>> reasoner.ask("What is 17*23 + 4?").answer
'395'
>>> reasoner = Reasoner()                       # the shipped bAbI-and-addition model
>>> reasoner.ask("Where is Mary?", context="Mary moved to the hallway.").answer
'hallway'
>>> reasoner = Reasoner(Engine.load("models/babi-qa1", quant="int8"))
>>> a = reasoner.ask("Where is Daniel?", context=story, strategy="self_consistency")
>>> a.answer, a.confidence, a.source, a.reason
>>> reasoner = Reasoner(Engine.load("SmolLM2-135M-Instruct.Q4_1.gguf", quant="f32"),
...                     retriever=DocumentStore("notes.db"))     # a chat model: chat prompts
>>> reasoner.ask("When does the greenhouse valve open?").citations[0].source
'notes/irrigation.md'

One pass per question: refuse a question about what the story never mentions
(grounding/entities.py) → retrieve notes → choose the prompt (prompts.py, or chat_prompts.py
for a chat model) → fit the notes to the context (notes_budget.py) → plan: the strategy
(policy.py) and the answer's form where the question's kind has one (answer_constraint.py:
a number, a word of the story) → generate under that form, verify and decide (generation.py,
strategies.py; a chat model offered its tools calls them while it generates: chat_tools.py)
→ the answer with its checked citations. An answer is verified only when every step of it
is (rule answers included: verifier.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from edge_reason.default_model import load_default_engine
from edge_reason.errors import ModelFormatError

from .answer import Answer, Citation, Step, StepStatus
from .answer_constraint import plan_answer
from .arithmetic import evaluate
from .calibration import Calibrator
from .chat_prompts import ChatPrompt, chat_formats, is_chat_model
from .chat_tools import ChatTools, check_tool_choice
from .errors import CalculationError, PromptFormatError, ToolError
from .generation import ChainGenerator
from .grounding.entities import absent_entities
from .grounding.story import story_lines
from .note_citations import cite_notes
from .notes_budget import fit_notes
from .policy import MAX_SAMPLES, STRATEGIES, Policy
from .prompts import BUILTIN_FORMATS, PromptFormat, choose_format
from .retrieval import DocumentStore, Passage
from .strategies import ModelResult, Question, StrategyRunner
from .tools import CALCULATOR, ToolRegistry
from .verifier import Verifier, cited_facts

if TYPE_CHECKING:
    from edge_reason.engine import Engine
    from edge_reason.heuristics import RulePack

    RulesSpec = RulePack | str | Path | Sequence[RulePack | str | Path]

PASSAGES_IN_PROMPT = 3


def _declared_formats(engine: Engine | None) -> dict[str, PromptFormat]:
    """The prompt formats a bundle declares in bundle.json ("prompt_formats": a list of
    format declarations): the way its model was trained to be asked, which replaces the
    built-in format of the same name."""
    manifest = getattr(engine, "manifest", None) or {}
    declared = manifest.get("prompt_formats", [])
    where = f"{getattr(engine, 'path', '<bundle>')}/bundle.json: prompt_formats"
    if not isinstance(declared, list):
        raise PromptFormatError(f"{where} must be a list of prompt formats")
    formats = [PromptFormat.from_dict(d, where=f"{where}[{i}]") for i, d in enumerate(declared)]
    return {f.name: f for f in formats}


# Measured on SmolLM2-135M: its sampled prose answers rarely agree word for word (5 of 5
# distinct on a notes question), so self-consistency costs five chains for a 0.2 vote share.
CHAT_POLICY = {"best_strategy": "cot"}


def _declared_policy(engine: Engine | None) -> Policy:
    """The default policy, with the revisions and the best strategy a bundle declares in
    bundle.json (a chat model that declares none: one checked chain, ``CHAT_POLICY``)."""
    manifest = getattr(engine, "manifest", None) or {}
    declared = manifest.get("reasoning", CHAT_POLICY if is_chat_model(engine) else {})
    where = f"{getattr(engine, 'path', '<bundle>')}/bundle.json: reasoning"
    if not isinstance(declared, dict) or not set(declared) <= {"max_revisions", "best_strategy"}:
        raise ModelFormatError(
            f"{where} must be a table with at most max_revisions and best_strategy"
        )
    try:
        return Policy(**declared)
    except ValueError as error:
        raise ModelFormatError(f"{where}: {error}") from None


class Reasoner:
    """Answers questions with checked reasoning.

    engine: a loaded :class:`edge_reason.Engine`; ``"default"`` (the default) loads the model
    that ships with the package (:mod:`edge_reason.default_model`), None answers from rule
    packs and tools alone.
    rules: rule packs for fallbacks: RulePack objects, pack files or built-in pack names
    (default: the built-in packs that answer questions, ``arithmetic`` and ``babi``).
    retriever: a :class:`DocumentStore` whose best passages go into the prompt.
    tools: a :class:`ToolRegistry` (default: calculator and unit conversion); pass an empty
    registry to switch tool calls off.
    tool_choice: how a chat model is offered the tools (and, with a retriever,
    ``search_notes``) in its own tool-call format (:mod:`.chat_tools`): "auto" (it may
    call), "required" or a tool's name (its first reply must call), or "none" (not offered:
    it computes in its text, which the verifier checks); None (the default): "auto" for a
    model whose chat template shows it tools, "none" for one whose template does not.
    policy: a :class:`Policy` (thresholds, revisions, measured token rates); default: the
    defaults, with what a bundle declares (``"reasoning": {"max_revisions": N,
    "best_strategy": "cot"}`` in bundle.json: the policy its model was measured with, and the
    strategy that measured best).

    A bundle that declares a confidence calibration (calibration.py) gets calibrated
    confidences (``Answer.confidence_calibrated``); ``calibrator`` may be replaced or set to
    None after construction.

    A chat model (an engine with a chat template, not a bundle that declares its prompt
    formats) is asked in chat messages through its template (:mod:`.chat_prompts`).

    ``formats`` (task family -> PromptFormat or ChatPrompt), ``model_families`` (the
    families the model is asked: a bundle's declared formats, else all) and ``verifier`` may
    be replaced or extended after construction.
    """

    def __init__(
        self,
        engine: Engine | Literal["default"] | None = "default",
        rules: RulesSpec | None = None,
        retriever: DocumentStore | None = None,
        tools: ToolRegistry | None = None,
        policy: Policy | None = None,
        tool_choice: str | None = None,
    ) -> None:
        if isinstance(engine, str):
            if engine != "default":
                raise ValueError(f'engine must be an Engine, "default" or None, got {engine!r}')
            engine = load_default_engine()
        self.engine = engine
        self.rules = _load_rules(rules)
        self.retriever = retriever
        self.tools = tools if tools is not None else ToolRegistry.default()
        self.tool_choice = check_tool_choice(tool_choice, self.tools, retriever)
        self.policy = policy if policy is not None else _declared_policy(self.engine)
        declared = _declared_formats(self.engine)
        asked = chat_formats(self.engine) if is_chat_model(self.engine) else declared
        self.formats: dict[str, PromptFormat | ChatPrompt] = {**BUILTIN_FORMATS, **asked}
        # a bundle that declares its formats is asked only questions of those families
        self.model_families: frozenset[str] = frozenset(declared or self.formats)
        self.verifier = Verifier()
        where = f"{getattr(self.engine, 'path', '<bundle>')}/bundle.json"
        self.calibrator = Calibrator.from_manifest(getattr(self.engine, "manifest", None), where)

    def ask(
        self,
        question: str,
        *,
        context: str | None = None,
        strategy: str = "auto",
        samples: int = 5,
        budget_ms: float | None = None,
    ) -> Answer:
        """Answer ``question`` (about the story or text ``context``, if given).

        strategy: "direct", "cot", "self_consistency" or "auto" (the policy picks by budget).
        samples: chains for self-consistency. budget_ms: the time the answer may take; when
        the measured token rates say the model would exceed it, rules or tools answer.
        """
        if not isinstance(question, str) or not question.strip():
            raise ValueError("question must be non-empty text")
        if context is not None and not isinstance(context, str):
            raise TypeError(f"context must be text or None, got {type(context).__name__}")
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        is_int = isinstance(samples, int) and not isinstance(samples, bool)
        if not is_int or not 1 <= samples <= MAX_SAMPLES:
            raise ValueError(f"samples must be an integer from 1 to {MAX_SAMPLES}, got {samples!r}")
        if budget_ms is not None and not budget_ms > 0:
            raise ValueError(f"budget_ms must be positive, got {budget_ms!r}")
        start = time.perf_counter()
        answer = self._answer(question, context, strategy, samples, budget_ms, start)
        calibrated = self.calibrator.confidence(answer) if self.calibrator else None
        if calibrated is not None:
            answer = replace(answer, confidence=calibrated, confidence_calibrated=True)
        return replace(answer, latency_ms=1000.0 * (time.perf_counter() - start))

    # ---- the model --------------------------------------------------------------------

    def _answer(
        self,
        question: str,
        context: str | None,
        strategy: str,
        samples: int,
        budget_ms: float | None,
        start: float,
    ) -> Answer:
        absent = absent_entities(question, story_lines(context)) if context else []
        if absent:
            # no chain or rule can ground an answer in lines that are not there ("Where is
            # Daniel?" of a story without him was answered with the first place it names)
            named = ", ".join(repr(word) for word in absent)
            return Answer(None, "none", f"unknown: the story never mentions {named}")
        notes = tuple(self.retriever.search(question, PASSAGES_IN_PROMPT)) if self.retriever else ()
        deadline = start + budget_ms / 1000.0 if budget_ms is not None else None
        prompt_format = choose_format(question, context, self.formats)
        if self.engine is None or not self._trained_for(prompt_format, question):
            why = (
                "no model loaded"
                if self.engine is None
                else f"the model was not trained for this question (format {prompt_format.name!r})"
            )
            return self._fallback(question, context, why, notes, deadline)

        chat_tools = self._chat_tools(prompt_format)
        if chat_tools is not None:  # the prompt offers the tools (counted in its tokens)
            prompt_format = chat_tools.offer(prompt_format)
        # the strategies prefill the prompt and a cue after it: the longer cue is counted
        cue = max(prompt_format.direct_cue, prompt_format.chain_cue, key=len)

        def prompt_tokens(kept: Sequence[Passage]) -> int:
            return len(self.engine.encode(prompt_format.render(question, context, kept) + cue))

        max_context = self.engine.info()["max_context"]
        room = max_context - prompt_format.max_new_tokens
        notes, cuts = fit_notes(notes, prompt_tokens, room, max_context)
        plan = self.policy.plan(
            has_engine=True,
            strategy=strategy,
            samples=samples,
            budget_ms=budget_ms,
            prompt_tokens=prompt_tokens(notes),
            max_chain_tokens=prompt_format.max_new_tokens,
        )
        if plan.strategy is None:
            return self._fallback(question, context, plan.reason, notes, deadline)
        answer_form = plan_answer(prompt_format, question, context)  # None: free (a chat)
        generator = (
            chat_tools.generator(self.policy.rates, notes)
            if chat_tools is not None
            else ChainGenerator(self.engine, self.tools, self.policy.rates, answer_form)
        )
        runner = StrategyRunner(self.engine, prompt_format, self.verifier, generator, self.policy)
        result = runner.run(plan.strategy, Question(question, context, notes, deadline), samples)
        why = "; ".join([plan.reason, *cuts])
        cited = (*notes, *generator.found_notes)  # a search tool's notes are cited too
        model = self._model_answer(
            result, plan.strategy, why, context, cited, prompt_format.marks_notes
        )
        rejection = self.policy.rejection(
            chains=result.chains,
            verified=result.verified,
            confidence=result.confidence,
            failure=result.failure,
        )
        if result.answer is None:
            rejection = rejection or "the model gave no answer"
        if rejection is None:
            return model
        fallback = self._fallback(question, context, "; ".join([rejection, *cuts]), notes, deadline)
        if fallback.answer is not None:
            return replace(fallback, tokens=result.tokens, strategy=plan.strategy)
        return replace(model, reason=f"{fallback.reason}; kept the model's answer")

    def _chat_tools(self, prompt_format: PromptFormat | ChatPrompt) -> ChatTools | None:
        """The tools a chat prompt offers its model, if any."""
        if not isinstance(prompt_format, ChatPrompt) or self.engine is None:
            return None
        return ChatTools.build(self.engine, self.tools, self.tool_choice, self.retriever)

    def _trained_for(self, prompt_format: PromptFormat | ChatPrompt, question: str) -> bool:
        return prompt_format.name in self.model_families and prompt_format.accepts(question)

    def _model_answer(
        self,
        result: ModelResult,
        strategy: str,
        why: str,
        context: str | None,
        notes: Sequence[Passage],
        marks_notes: bool,
    ) -> Answer:
        details = [why]
        if result.votes:
            details.append(f"{max(result.votes.values())} of {result.chains} chains agree")
        if result.note:
            details.append(result.note)
        if result.revisions:
            kinds = ", ".join(r.kind for r in result.revisions)
            details.append(f"revised after failed verification ({kinds})")
        story = story_lines(context)
        citations = [
            Citation("story", f"line {i}", story[i])
            for i in cited_facts(result.chain)
            if i in story
        ]
        citations += [
            Citation(
                c.note.source, c.note.ref, c.note.text, c.note.score, c.supported, c.note.lines
            )
            for c in cite_notes(result.chain, notes, result.answer, marked=marks_notes)
        ]
        return Answer(
            answer=result.answer,
            source="model",
            reason="; ".join(details),
            steps=result.steps,
            confidence=result.confidence,
            votes=result.votes,
            citations=tuple(citations),
            revisions=tuple(result.revisions),
            strategy=strategy,
            tokens=result.tokens,
            signals=result.signals,
        )

    # ---- rules and tools ----------------------------------------------------------------

    def _fallback(
        self,
        question: str,
        context: str | None,
        why: str,
        notes: Sequence[Passage] = (),
        deadline: float | None = None,
    ) -> Answer:
        """The first rule pack that answers, else a tool, else no answer (citing the best
        retrieved ``notes``, for the reader to answer from); ``why`` is kept. Each pack gets
        what is left of the time budget until ``deadline`` (a perf_counter time)."""
        from edge_reason.heuristics import RuleError

        errors = []
        for pack in self.rules:
            left_ms = None if deadline is None else 1000.0 * (deadline - time.perf_counter())
            try:
                found = pack.answer_question(question, context, budget_ms=left_ms)
            except RuleError as error:
                errors.append(f"pack {pack.name!r}: {error}")
                continue
            if found is not None:
                story = story_lines(context)
                return Answer(
                    answer=found.answer,
                    source="rules",
                    reason=f"{why}; answered by rule pack {pack.name!r} ({found.rule_id})",
                    steps=self.verifier.verify_rule_answer(pack.name, found, question, context),
                    confidence=1.0,
                    citations=tuple(
                        Citation("story", f"line {i}", story[i])
                        for i in found.sources
                        if i in story
                    ),
                )
        computed = self._calculator_answer(question, why)
        if computed is not None:
            return computed
        failed = f" ({'; '.join(errors)})" if errors else ""
        return Answer(
            answer=None,
            source="none",
            reason=f"{why}; no rule pack or tool could answer{failed}",
            citations=tuple(
                Citation(n.source, n.ref, n.text, n.score, lines=n.lines) for n in notes
            ),
        )

    def _calculator_answer(self, question: str, why: str) -> Answer | None:
        """A question that is just arithmetic (``17*23 + 4 =``) is answered by the calculator."""
        expression = question.strip().rstrip("?= ").strip()
        if CALCULATOR.name not in self.tools:
            return None
        try:
            evaluate(expression)
            result = self.tools.call(CALCULATOR.name, {"expression": expression})
        except (CalculationError, ToolError):
            return None
        return Answer(
            answer=result,
            source="tool",
            reason=f"{why}; computed by the {CALCULATOR.name} tool",
            steps=(Step(f"{expression} = {result}", StepStatus.VERIFIED, "exact arithmetic"),),
            confidence=1.0,
        )


def _load_rules(rules: RulesSpec | None) -> list[RulePack]:
    from edge_reason.heuristics import RulePack, builtin_names, load_builtin

    if rules is None:
        packs = [load_builtin(name) for name in builtin_names()]
        return [pack for pack in packs if pack.spec.questions]
    items: Iterable[RulePack | str | Path] = (
        [rules] if isinstance(rules, (RulePack, str, Path)) else rules
    )
    loaded = []
    for item in items:
        if isinstance(item, RulePack):
            loaded.append(item)
        elif isinstance(item, (str, Path)):
            loaded.append(RulePack.load(item) if Path(item).is_file() else load_builtin(str(item)))
        else:
            raise TypeError(f"rules must be RulePacks, pack files or names, got {item!r}")
    return loaded
