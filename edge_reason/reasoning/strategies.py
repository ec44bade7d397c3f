"""The model strategies: direct, chain of thought (with its feedback loop), self-consistency.

* direct: one greedy generation after the format's direct cue; steps are checked and shown,
  but nothing is revised.
* cot: one greedy chain, verified; on a failure it is repaired (the wrong value replaced by the
  computed one, generation continued from there) or, when there is no value to substitute,
  generated again, at most ``Policy.max_revisions`` times: sampled after a prompt that states
  the failure, or, in a format without feedback, the model's next most likely chain
  (``ChainSearch``). If no chain verifies, the one with the fewest failed checks answers (the
  earliest of those).
* self_consistency: the prompt is prefilled once and the samples are decoded together from
  that cache state, as one batch (their cost is close to one chain's while decode is bound by
  reading the weights); chains that fail verification do not vote (if none verifies, all of
  them do); the time budget cuts every chain at once.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .answer import Revision, Signals, Step
from .chat_prompts import ChatPrompt
from .errors import ContextLengthError
from .extract import extract_answer, normalize_answer
from .generation import ChainGenerator, GeneratedChain, answer_logprobs
from .policy import Policy
from .prompts import PromptFormat
from .retrieval import Passage
from .search import ChainSearch
from .verifier import Verification, Verifier
from .voting import Ballot

if TYPE_CHECKING:
    from edge_reason.engine import Engine, PromptState


@dataclass
class ModelResult:
    """What a strategy produced, before the policy decides whether to use it."""

    answer: str | None
    chain: str  # the chain the answer comes from
    steps: tuple[Step, ...]
    confidence: float
    chains: int  # chains generated
    verified: int  # chains that passed verification
    tokens: int
    failure: str | None = None  # the first verifier failure seen, if any
    votes: dict[str, int] = field(default_factory=dict)
    revisions: list[Revision] = field(default_factory=list)
    note: str = ""
    signals: Signals = field(default_factory=Signals)


@dataclass(frozen=True)
class Question:
    """A question as the strategies see it."""

    text: str
    context: str | None
    notes: tuple[Passage, ...]
    deadline: float | None  # time.perf_counter() value after which no new chain starts


class StrategyRunner:
    """Runs one strategy for one question on an engine."""

    def __init__(
        self,
        engine: Engine,
        prompt_format: PromptFormat | ChatPrompt,
        verifier: Verifier,
        generator: ChainGenerator,
        policy: Policy,
    ) -> None:
        self.engine = engine
        self.format = prompt_format
        self.verifier = verifier
        self.generator = generator
        self.policy = policy

    def run(self, strategy: str, question: Question, samples: int) -> ModelResult:
        if strategy == "direct":
            return self.direct(question)
        if strategy == "cot":
            return self.chain_of_thought(question)
        return self.self_consistency(question, samples)

    # ---- strategies -----------------------------------------------------------------

    def direct(self, question: Question) -> ModelResult:
        cue = self.format.direct_cue
        state = self.generator.prefill(self._prompt(question) + cue)
        generated = self._sample(
            state, temperature=0.0, seed=None, deadline=question.deadline, written=cue
        )
        text = cue + generated.text
        answer, check = self._judge(question, text)
        logprobs = self._logprobs(state, generated.text, answer)
        return ModelResult(
            answer=answer,
            chain=text,
            steps=check.steps,
            confidence=_first_probability(logprobs),
            chains=1,
            verified=int(check.ok),
            tokens=generated.tokens,
            failure=_failure(check),
            signals=Signals(logprobs),
        )

    def chain_of_thought(self, question: Question) -> ModelResult:
        state = self.generator.prefill(self._prompt(question) + self.format.chain_cue)
        # A format without feedback would ask again in the same words: its redraws are the
        # model's next most likely chains (ChainSearch), not samples that repeat themselves.
        search = None
        if not self.format.feedback:
            search = ChainSearch(
                self.generator,
                state,
                max_new_tokens=self.format.max_new_tokens,
                stop=self.format.stop,
            )
            generated = search.next(question.deadline)
            assert generated is not None  # a search's first chain always exists
        else:
            generated = self._sample(state, temperature=0.0, seed=None, deadline=question.deadline)
        chain, tokens = generated.text, generated.tokens
        answer, check = self._judge(question, chain)
        best = (state, chain, answer, check)
        first_failure, note = _failure(check), ""
        revisions: list[Revision] = []
        while not check.ok and len(revisions) < self.policy.max_revisions:
            if question.deadline is not None and time.perf_counter() > question.deadline:
                break  # no new chain starts after the deadline
            failure = check.first_failure
            assert failure is not None  # check.ok is False
            try:
                if failure.repair is not None:
                    corrected = chain[: failure.span[0]] + failure.repair
                    resumed = self.generator.prefill(corrected, prefix=state)
                    generated = self._sample(
                        resumed,
                        temperature=0.0,
                        seed=None,
                        deadline=question.deadline,
                        written=corrected,
                    )
                    chain = corrected + generated.text
                    revisions.append(Revision("repair", failure.detail))
                elif search is not None:
                    redrawn = search.next(question.deadline)
                    if redrawn is None:  # the model has no other chain
                        break
                    generated, chain = redrawn, redrawn.text
                    revisions.append(Revision("regenerate", failure.detail))
                else:
                    failed = self._prompt(question, failure=failure.detail) + self.format.chain_cue
                    state = self.generator.prefill(failed)
                    generated = self._sample(
                        state,
                        temperature=self.policy.temperature,
                        seed=len(revisions),
                        deadline=question.deadline,
                    )
                    chain = generated.text
                    revisions.append(Revision("regenerate", failure.detail))
            except ContextLengthError:
                # the story, the chain so far and the failure leave no room for another
                note = "stopped revising: a revised prompt does not fit the context"
                break
            tokens += generated.tokens
            answer, check = self._judge(question, chain)
            if _failures(check) < _failures(best[3]):
                best = (state, chain, answer, check)
        if not check.ok:
            # No chain verified: answer with the one that failed fewest checks, the earliest
            # of those (the greedy chain is the model's own best guess).
            state, chain, answer, check = best
        logprobs = self._logprobs(state, chain, answer)
        return ModelResult(
            answer=answer,
            chain=chain,
            steps=check.steps,
            confidence=_first_probability(logprobs),
            chains=1 + len(revisions),
            verified=int(check.ok),
            tokens=tokens,
            failure=first_failure,
            revisions=revisions,
            note=note,
            signals=Signals(logprobs, revisions=len(revisions)),
        )

    def self_consistency(self, question: Question, samples: int) -> ModelResult:
        state = self.generator.prefill(self._prompt(question) + self.format.chain_cue)
        ballot = Ballot()
        unchecked = Ballot()  # every answer, verified or not: the vote if none verifies
        # normalized answer -> its first chain, among the verified ones and among all
        verified: dict[str, tuple[str, Verification]] = {}
        drawn_chains: dict[str, tuple[str, Verification]] = {}
        first_failure, note = None, ""
        generated = self.generator.generate_many(
            state,
            seeds=list(range(samples)),
            max_new_tokens=self.format.max_new_tokens,
            temperature=self.policy.temperature,
            stop=self.format.stop,
            deadline=question.deadline,
        )
        if question.deadline is not None and time.perf_counter() > question.deadline:
            note = f"time budget reached while the {samples} samples were decoded"
        for chain in generated:
            answer, check = self._judge(question, chain.text)
            if answer is not None:
                unchecked.add(answer)
                drawn_chains.setdefault(normalize_answer(answer), (chain.text, check))
            else:
                unchecked.abstain()
            if answer is None or not check.ok:
                ballot.abstain()
                first_failure = first_failure or _failure(check) or "no answer found"
            else:
                ballot.add(answer)
                verified.setdefault(normalize_answer(answer), (chain.text, check))
        leader, chains = ballot.leader, verified
        if leader is None:  # no chain verified: the plain majority, as without a verifier
            leader, chains = unchecked.leader, drawn_chains
        chain, check = chains[normalize_answer(leader)] if leader is not None else ("", None)
        # the plain majority's share when no chain verified: how far the samples agreed
        share = ballot.share if ballot.total else unchecked.share
        return ModelResult(
            answer=leader,
            chain=chain,
            steps=check.steps if check is not None else (),
            confidence=ballot.share,
            chains=samples,
            verified=ballot.total,
            tokens=sum(chain.tokens for chain in generated),
            failure=first_failure,
            votes=ballot.as_votes(),
            note=note,
            signals=Signals(self._logprobs(state, chain, leader), vote_share=share),
        )

    # ---- pieces -----------------------------------------------------------------------

    def _prompt(self, question: Question, failure: str | None = None) -> str:
        return self.format.render(question.text, question.context, question.notes, failure=failure)

    def _sample(
        self,
        state: PromptState,
        *,
        temperature: float,
        seed: int | None,
        deadline: float | None,
        written: str = "",
    ) -> GeneratedChain:
        """A chain after ``state``, of which ``written`` (a cue, a repaired prefix) is
        already there: the answer's form counts it."""
        return self.generator.generate(
            state,
            max_new_tokens=self.format.max_new_tokens,
            temperature=temperature,
            seed=seed,
            stop=self.format.stop,
            deadline=deadline,
            written=written,
        )

    def _judge(self, question: Question, chain: str) -> tuple[str | None, Verification]:
        answer = extract_answer(chain, self.format.answer_form)
        check = self.verifier.verify(
            chain,
            question=question.text,
            context=question.context,
            answer=answer,
            notes=(*question.notes, *self.generator.found_notes) if self.format.marks_notes else (),
        )
        return answer, check

    def _logprobs(self, state: PromptState, chain: str, answer: str | None) -> tuple[float, ...]:
        return answer_logprobs(self.engine, state, chain, answer) if answer is not None else ()


def _first_probability(logprobs: tuple[float, ...]) -> float:
    """The model's probability of the answer's first token: one chain's uncalibrated
    confidence (0 when the answer is not found in the chain)."""
    return math.exp(logprobs[0]) if logprobs else 0.0


def _failures(check: Verification) -> int:
    return sum(not finding.ok for finding in check.findings)


def _failure(check: Verification) -> str | None:
    failure = check.first_failure
    return failure.detail if failure is not None else None
