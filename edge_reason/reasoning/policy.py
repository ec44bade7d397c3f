"""When to trust the model, and when to answer from rules or tools instead.

The policy falls back when no model is loaded, when the time budget would be exceeded (the
estimate comes from the engine's measured token rates: running averages over every prefill
and generation so far), when the verifier rejects every chain, and when the model's
confidence is below a threshold. Each decision comes with a reason in plain words.
"""

from __future__ import annotations

from dataclasses import dataclass

STRATEGIES = ("direct", "cot", "self_consistency", "auto")
# Self-consistency chains per question: majority votes settle well before this, and a
# mistyped count would otherwise decode for hours on a board.
MAX_SAMPLES = 64
_BY_COST = ("self_consistency", "cot", "direct")  # the model strategies, costliest first


@dataclass
class TokenRates:
    """Running averages of the engine's speed and of how long its chains are."""

    prefill_tokens: int = 0
    prefill_seconds: float = 0.0
    decode_tokens: int = 0
    decode_seconds: float = 0.0
    # a sequence's rate while it was decoded in a batch beside others
    batched_tokens: int = 0
    batched_seconds: float = 0.0
    chains: int = 0
    chain_tokens: int = 0

    def record_prefill(self, tokens: int, seconds: float) -> None:
        """Count a prefill of ``tokens`` tokens that took ``seconds``."""
        if tokens > 0 and seconds > 0:
            self.prefill_tokens += tokens
            self.prefill_seconds += seconds

    def record_decode(self, tokens: int, seconds: float) -> None:
        """Count ``tokens`` generated tokens that took ``seconds`` (Generation.stats)."""
        if tokens > 0 and seconds > 0:
            self.decode_tokens += tokens
            self.decode_seconds += seconds

    def record_batched_decode(self, tokens: int, seconds: float) -> None:
        """Count one sequence of a batch: ``tokens`` generated in ``seconds`` beside others."""
        if tokens > 0 and seconds > 0:
            self.batched_tokens += tokens
            self.batched_seconds += seconds

    def record_chain(self, tokens: int) -> None:
        """Count one finished chain of ``tokens`` generated tokens."""
        self.chains += 1
        self.chain_tokens += tokens

    @property
    def prefill_per_second(self) -> float | None:
        return self.prefill_tokens / self.prefill_seconds if self.prefill_seconds else None

    @property
    def decode_per_second(self) -> float | None:
        return self.decode_tokens / self.decode_seconds if self.decode_seconds else None

    def mean_chain_tokens(self, default: int) -> float:
        """Tokens a chain takes on average (``default`` until one has been generated)."""
        return self.chain_tokens / self.chains if self.chains else float(default)

    def estimate_ms(self, prompt_tokens: int, chains: int, chain_tokens: float) -> float | None:
        """Milliseconds for one prefill and ``chains`` chains decoded together, or None
        before any measurement. Until a batch has been measured, the chains are counted
        as if decoded one after another (an upper bound)."""
        prefill, decode = self.prefill_per_second, self.decode_per_second
        if prefill is None or decode is None:
            return None
        if chains > 1 and self.batched_seconds:
            decoding = chain_tokens / (self.batched_tokens / self.batched_seconds)
        else:
            decoding = chains * chain_tokens / decode
        return 1000.0 * (prompt_tokens / prefill + decoding)


@dataclass(frozen=True)
class Plan:
    """The policy's choice: a model strategy (None: answer from rules or tools) and why."""

    strategy: str | None
    reason: str


class Policy:
    """Decides between the model and the fallbacks.

    confidence_threshold: a model answer below it goes to rules/tools (kept if they cannot
    answer). max_revisions: repair or regeneration rounds after a failed verification.
    temperature: sampling temperature for self-consistency and for regeneration after a prompt
    that states the failure. best_strategy: the strategy ``auto`` runs when it fits the budget,
    before the cheaper ones (None: self-consistency, then cot, then direct); a bundle declares
    the one its model was measured best with.
    """

    def __init__(
        self,
        confidence_threshold: float = 0.5,
        max_revisions: int = 2,
        temperature: float = 0.7,
        rates: TokenRates | None = None,
        best_strategy: str | None = None,
    ) -> None:
        if not 0.0 <= confidence_threshold <= 1.0:
            raise ValueError(f"confidence_threshold must be in [0, 1], got {confidence_threshold}")
        if not isinstance(max_revisions, int) or max_revisions < 0:
            raise ValueError(f"max_revisions must be an integer >= 0, got {max_revisions!r}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        if best_strategy is not None and best_strategy not in _BY_COST:
            raise ValueError(
                f"best_strategy must be one of {', '.join(_BY_COST)}, got {best_strategy!r}"
            )
        self.best_strategy = best_strategy
        self.confidence_threshold = confidence_threshold
        self.max_revisions = max_revisions
        self.temperature = temperature
        self.rates = rates if rates is not None else TokenRates()

    def plan(
        self,
        *,
        has_engine: bool,
        strategy: str,
        samples: int,
        budget_ms: float | None,
        prompt_tokens: int,
        max_chain_tokens: int,
    ) -> Plan:
        """Pick the strategy to run (``auto``: the best that fits the budget) or a fallback."""
        if not has_engine:
            return Plan(None, "no model loaded")
        chain = self.rates.mean_chain_tokens(max_chain_tokens)
        chains = {"direct": 1, "cot": 1, "self_consistency": samples}

        def estimate(name: str) -> float | None:
            return self.rates.estimate_ms(prompt_tokens, chains[name], chain)

        if strategy != "auto":
            cost = estimate(strategy)
            if budget_ms is not None and cost is not None and cost > budget_ms:
                return Plan(None, self._over_budget(strategy, cost, budget_ms))
            return Plan(strategy, f"{strategy} requested")
        preferred = list(_BY_COST if samples > 1 else _BY_COST[1:])
        if self.best_strategy in preferred:
            # the costlier strategies measured worse: not worth their time
            preferred = preferred[preferred.index(self.best_strategy) :]
        if budget_ms is None:
            why = (
                "the model's best measured strategy, " if self.best_strategy == preferred[0] else ""
            )
            return Plan(preferred[0], f"auto: {preferred[0]} ({why}no time budget)")
        if self.rates.prefill_per_second is None or self.rates.decode_per_second is None:
            first = "cot" if "cot" in preferred else preferred[0]  # one chain, checked
            return Plan(first, f"auto: {first} (no token rates measured yet to plan more samples)")
        for name in preferred:
            cost = estimate(name)
            if cost is not None and cost <= budget_ms:
                return Plan(name, f"auto: {name} (estimated {cost:.0f} ms of {budget_ms:g} ms)")
        return Plan(None, self._over_budget("direct", estimate("direct") or 0.0, budget_ms))

    def _over_budget(self, strategy: str, cost: float, budget_ms: float) -> str:
        return (
            f"the time budget would be exceeded: {strategy} needs about {cost:.0f} ms "
            f"(prefill {self.rates.prefill_per_second:.0f} tok/s, decode "
            f"{self.rates.decode_per_second:.0f} tok/s) but the budget is {budget_ms:g} ms"
        )

    def rejection(
        self, *, chains: int, verified: int, confidence: float, failure: str | None
    ) -> str | None:
        """Why a model answer should not be used, or None to use it."""
        if chains and not verified:
            return f"the verifier rejected every chain ({failure})"
        if confidence < self.confidence_threshold:
            return (
                f"model confidence {confidence:.2f} is below the threshold "
                f"{self.confidence_threshold:.2f}"
            )
        return None
