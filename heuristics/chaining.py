"""Forward chaining: apply deduction rules to a fact base until nothing changes.

Incremental (semi-naive): each rule remembers the clock of the fact base when it last ran and
then looks only at matches that involve a fact added since, found through the base's indexes,
so a story read sentence by sentence costs what its new facts add, not a rerun over all facts.
A firing whose conclusions are all present already is skipped before it is worded.

Two things make a rule fire again without new facts. A fact it concluded may be removed (a
functional relation replaced it, or a story retracted it): the rule's matches that conclude it
are looked for again. And its ``when`` may start to hold: then all its matches are new to it.

Rules that only add facts always settle (their conclusions reuse words already in the base,
so there are finitely many). Rules over *functional* relations replace facts and can undo each
other forever; the engine notices when a round ends in a state it has already been in and
raises ChainingError naming the rules that keep re-deriving, instead of looping. Caps on rounds
and on facts, and the time budget, guard everything else.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from .budget import Budget
from .errors import ChainingError
from .facts import FactBase, Match, Support
from .firing import Firing, RuleContext
from .patterns import Fact
from .schema import RuleSpec

MAX_ROUNDS = 64
MAX_FACTS = 200_000
# Matches enumerated between two looks at the clock (reading it is cheap, not free).
_MATCHES_PER_BUDGET_CHECK = 4096


class ForwardChainer:
    """Brings ``base`` to a fixpoint of ``rules`` each time ``settle`` is called.

    Keep one chainer per fact base: it remembers how far each rule has read the base.
    ``source`` (the pack file) goes into error messages.
    """

    def __init__(
        self,
        base: FactBase,
        rules: Sequence[RuleSpec],
        context: RuleContext,
        source: str,
        budget: Budget | None = None,
    ) -> None:
        self.base = base
        self.rules = list(rules)
        self.context = context
        self.source = source
        self.budget = budget or Budget()
        self._read_to = {rule.id: 0 for rule in self.rules}  # the clock when the rule last ran
        self._removals_read = {rule.id: 0 for rule in self.rules}
        self._held = {rule.id: False for rule in self.rules}  # its 'when', when it last ran
        self._matches = 0

    def settle(self) -> int:
        """Run the rules, in order, round after round until a round adds nothing.

        Returns the number of rounds taken.
        """
        seen = {self.base.fingerprint}
        for round_number in range(1, MAX_ROUNDS + 1):
            changed_by = [rule for rule in self.rules if self._apply(rule, round_number)]
            if not changed_by:
                return round_number
            if len(self.base) > MAX_FACTS:
                raise ChainingError(
                    f"forward chaining in {self.source} derived more than {MAX_FACTS} facts"
                )
            state = self.base.fingerprint
            if state in seen:
                names = ", ".join(f"'{rule.id}' ({self.source}:{rule.line})" for rule in changed_by)
                raise ChainingError(
                    f"forward chaining does not settle: rules {names} keep re-deriving facts "
                    f"that replace each other (state repeated in round {round_number})"
                )
            seen.add(state)
        raise ChainingError(
            f"forward chaining in {self.source} did not settle within {MAX_ROUNDS} rounds"
        )

    def _apply(self, rule: RuleSpec, round_number: int) -> bool:
        """Fire ``rule`` on what is new to it; True if the base changed."""
        firings = self._new_firings(rule, round_number)
        # Supports are taken before any conclusion is added: adding to a functional relation
        # may replace a fact that a later firing of the same rule rests on.
        supports = [
            Support.combine((self.base.support(fact) for fact in firing.premises), firing.step)
            for firing in firings
        ]
        changed = False
        for firing, support in zip(firings, supports, strict=True):
            for fact in firing.conclusions:
                changed = self.base.add(fact, support) or changed
        return changed

    def _new_firings(self, rule: RuleSpec, round_number: int) -> list[Firing]:
        base = self.base
        since, removed = self._read_to[rule.id], base.removed_since(self._removals_read[rule.id])
        held_before = self._held[rule.id]
        self._read_to[rule.id], self._removals_read[rule.id] = base.clock, base.removal_count
        holds = self.context.condition_holds(rule, base)
        self._held[rule.id] = holds
        if not holds:
            return []
        if not held_before:
            matches = list(self._counted(base.match(rule.match), rule, round_number))
        else:
            matches = list(self._counted(base.match_new(rule.match, since), rule, round_number))
            matches += self._matches_concluding(rule, removed, round_number)
        return [self.context.firing(rule, *match, base) for match in matches]

    def _matches_concluding(
        self, rule: RuleSpec, removed: list[Fact], round_number: int
    ) -> list[Match]:
        """The rule's matches that conclude a fact removed since it last ran (and still gone)."""
        found: list[Match] = []
        for fact in dict.fromkeys(removed):
            if fact in self.base:
                continue
            for pattern in rule.asserts:
                bindings = pattern.bind(fact, {})
                if bindings is not None:
                    matches = self.base.match(rule.match, bindings)
                    found += self._counted(matches, rule, round_number)
        return found

    def _counted(
        self, matches: Iterator[Match], rule: RuleSpec, round_number: int
    ) -> Iterator[Match]:
        """``matches`` that would add a fact, checking the time budget every so often."""
        base = self.base
        for bindings, matched in matches:
            self._matches += 1
            if self._matches % _MATCHES_PER_BUDGET_CHECK == 0:
                self.budget.check(
                    f"forward chaining in {self.source} (rule '{rule.id}', round {round_number})"
                )
            if any(pattern.instantiate(bindings) not in base for pattern in rule.asserts):
                yield bindings, matched
