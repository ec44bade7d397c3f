"""The Python face of the native engine: load a model, run it, generate text.

    >>> engine = Engine.load("models/smollm2-135m", quant="int4", threads=2)
    >>> g = engine.generate("The capital of France is", max_new_tokens=8)
    >>> g.text, g.stats.decode_seconds
    >>> reply = engine.chat([{"role": "user", "content": "What is 2+2?"}], thinking_budget=64)
    >>> reply.reasoning, reply.text

One Engine holds one token sequence in its KV cache. A :class:`PromptState`
marks a prefix of that sequence: generation can restart from it without
running the prefix again, which is how self-consistency samples many answers
from one prefilled prompt.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar, cast, overload

import numpy as np

from . import _native, native_spec
from .backends import BACKENDS, open_backend
from .batch_generation import BatchMember, SequenceLogits, decode_together
from .batch_session import BatchSession, SequenceRunner
from .chat import ChatFormat, ChatTurn
from .chat_template import WHERE_TEMPLATES_ARE, ChatTemplate
from .decode_loop import DecodeLoop
from .draft_model import DraftModel, check_draft
from .encoder import Encoder
from .encoder_config import EncoderConfig
from .errors import ModelFormatError, ResponseFormatError
from .model_config import ModelConfig
from .model_source import load_tokenizer, open_model_source
from .prompt_lookup import NgramLookup
from .sampling_params import SamplingOptions, SamplingParams
from .speculative import DraftedLogits, Proposer, speculative_tokens
from .stop_strings import StopStrings
from .streaming import Stream
from .structured_output import GrammarProcessor, ResponseFormat, grammar_tokenizer
from .system import physical_cores
from .text_stream import TextStream
from .thinking import ChatPiece
from .tool_calls import ToolCall, ToolCallSyntax, check_tool_choice, check_tools

if TYPE_CHECKING:
    from typing_extensions import Unpack

DEFAULT_MAX_CONTEXT = 2048
# Tokens per forward call in prefill: larger chunks reuse each weight block
# across more tokens; 128 covers a typical prompt in one pass.
PREFILL_CHUNK = 128


@dataclass(frozen=True)
class GenerationStats:
    prompt_tokens: int  # tokens of the prompt, including any reused prefix
    generated_tokens: int
    prefill_seconds: float
    decode_seconds: float
    prefilled_tokens: int = 0  # prompt tokens actually run (0 when resumed from a state)

    @property
    def decode_tokens_per_second(self) -> float:
        return self.generated_tokens / self.decode_seconds if self.decode_seconds > 0 else 0.0

    @property
    def prefill_tokens_per_second(self) -> float:
        return self.prefilled_tokens / self.prefill_seconds if self.prefill_seconds > 0 else 0.0


class Generation:
    """The result of one generate call.

    token_ids: the generated tokens (an end-of-sequence token included);
    finish_reason: "length", "eos" (an end-of-sequence or end-of-turn token), "stop",
    "time" or "tool_calls"; text: the generated text (for chat, the answer, without its
    tool calls); reasoning: for chat, the text the model wrote between its thinking tags
    ("" when none); tool_calls: for chat with tools, the calls the model made. The
    text of a call that neither streamed nor used stop strings is decoded on
    first access, so runs on token ids never load the tokenizer.
    """

    __slots__ = ("_text", "token_ids", "stats", "finish_reason", "reasoning", "tool_calls")

    def __init__(
        self,
        text: str | Callable[[], str],
        token_ids: list[int],
        stats: GenerationStats,
        finish_reason: str = "length",
        *,
        reasoning: str = "",
        tool_calls: Sequence[ToolCall] = (),
    ) -> None:
        self._text = text
        self.token_ids = token_ids
        self.stats = stats
        self.finish_reason = finish_reason
        self.reasoning = reasoning
        self.tool_calls = list(tool_calls)

    @property
    def text(self) -> str:
        if callable(self._text):
            self._text = self._text()
        return self._text

    def __repr__(self) -> str:
        return (
            f"Generation(text={self.text!r}, token_ids={self.token_ids!r}, "
            f"stats={self.stats!r}, finish_reason={self.finish_reason!r}, "
            f"reasoning={self.reasoning!r}, tool_calls={self.tool_calls!r})"
        )


@dataclass(frozen=True, eq=False)
class PromptState:
    """A prefix of the engine's sequence, with the logits that follow it."""

    token_ids: tuple[int, ...]
    logits: np.ndarray = field(repr=False)


class Backend(Protocol):
    """What the Engine drives: the native engine, or another runtime behind the same calls.

    A backend holds one token sequence and the next-token logits after it.
    """

    @property
    def position(self) -> int: ...  # tokens in the sequence
    @property
    def tokens_evaluated(self) -> int: ...  # tokens run since construction
    def info(self) -> dict[str, Any]: ...  # kernel, threads, max_context, ...
    def append(self, tokens: np.ndarray) -> None: ...  # int32 ids; keeps the last logits
    def logits_all(self, tokens: np.ndarray) -> np.ndarray: ...  # fresh sequence, [n, vocab]
    def last_logits(self) -> np.ndarray: ...
    def rewind(self, position: int, logits: np.ndarray) -> None: ...  # keep a prefix
    def seed(self, seed: int) -> None: ...
    def sample(
        self,
        temperature: float,
        top_k: int,
        top_p: float,
        repetition_penalty: float,
        history: np.ndarray,
    ) -> int: ...  # from the last logits
    def sample_logits(
        self,
        logits: np.ndarray,  # float32 [vocab]
        temperature: float,
        top_k: int,
        top_p: float,
        repetition_penalty: float,
        history: np.ndarray,
    ) -> int: ...  # from these logits, with the same sampler (and random state) as sample


_P = ParamSpec("_P")
_R = TypeVar("_R")


_Method = Callable[Concatenate["Engine", _P], _R]


def _generates(method: _Method[_P, _R]) -> _Method[_P, _R]:
    """Marks a method that runs the language model: an encoder's Engine refuses it."""

    @functools.wraps(method)
    def checked(self: Engine, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        if self._encoder is not None:
            raise ValueError(
                f"{self.path} is an encoder ({self.config.model_type}): it embeds text, it does "
                f"not generate (Engine.{method.__name__} needs a causal language model)"
            )
        return method(self, *args, **kwargs)

    return checked


class Engine:
    """A loaded model. Build one with :meth:`Engine.load`. A BERT-style encoder loads
    too: it has :meth:`embed` and refuses the methods that generate."""

    def __init__(
        self,
        native: Backend | None,
        config: ModelConfig | EncoderConfig,
        *,
        tokenizer: Any | Path | bytes | None,
        quant: str,
        weight_bytes: int,
        path: Path,
        load_seconds: float,
        chat_template: ChatTemplate | None = None,
        encoder: Encoder | None = None,
    ) -> None:
        # An encoder's Engine has an Encoder and no backend: the methods that would reach
        # the backend refuse to run first (_generates).
        self._native = cast(Backend, native)
        self._encoder = encoder
        self.config = config
        # a tokenizers.Tokenizer, or a path or tokenizer.json bytes to load it from
        self._tokenizer = tokenizer
        self.quant = quant
        self.path = path
        self._weight_bytes = weight_bytes
        self._load_seconds = load_seconds
        self._sequence: list[int] = []  # the tokens in sequence 0 of the cache, in order
        # The sequences the last batch ran, kept (their tokens, their native id) so that a
        # prompt continuing one of them (a chain resumed after a tool call) starts from it.
        self._kept: list[tuple[list[int], int]] = []
        # bundle.json of a bundle (its prompt formats, quality report, ...), else None
        self.manifest: dict[str, Any] | None = None
        # for a GGUF file: "GGML type->engine format" -> tensors converted so
        self.weight_conversions: dict[str, int] | None = None
        self._lock = threading.Lock()
        self._owner: int | None = None  # thread inside a call (a stream may hold it long)
        self.eos_token_ids = frozenset(config.eos_token_ids if encoder is None else ())
        self._chat_template = chat_template
        self._chat_format: ChatFormat | None = None  # built on first chat (needs the tokenizer)
        # llguidance tokenizers for structured output, by the end tokens they allow
        self._grammar_tokenizers: dict[frozenset[int], Any] = {}
        # a smaller model that drafts tokens for every generation (speculative decoding)
        self.draft: Engine | None = None

    # ---- loading ------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        quant: str | None = None,
        threads: int | None = None,
        max_context: int | None = None,
        kv_cache: str = "f32",
        kv_cache_positions: int | None = None,
        backend: str = "native",
        trusted_keys: Sequence[bytes | str | os.PathLike[str]] | None = None,
        draft: str | os.PathLike[str] | Engine | None = None,
    ) -> Engine:
        """Load a Hugging Face model folder (config.json, *.safetensors, tokenizer.json),
        a bundle folder (bundle.json, written by `edge-reason export`) or a GGUF file.
        A Hugging Face folder of a BERT-style encoder loads for :meth:`embed` only
        (docs/embeddings.md); max_context, kv_cache, kv_cache_positions and draft are
        then refused.

        quant: "f32" (default), "int8" or "int4": how the matrices are held. A
        bundle is already quantized: quant may only repeat its scheme. A GGUF file by
        default keeps its Q8_0 and Q4_0 matrices and turns the rest into Q8
        (edge_reason/gguf_weights.py); info()["gguf_conversions"] says what happened.
        threads: worker threads (default: the physical cores).
        max_context: KV cache capacity in tokens (default: the model's
        maximum, capped at 2048).
        kv_cache: "f32", "f16" or "q8" (int8 with a scale per 32 values) storage for the
        native engine's KV cache.
        kv_cache_positions: the most positions the native engine's KV cache may hold over
        all its sequences (a batch holds one per sequence and token; at least max_context).
        None: it grows as batches need, from max_context positions allocated at load.
        backend: "native", or for a bundle "onnxruntime" or "tflite".
        trusted_keys: Ed25519 public keys (PEM file paths, PEM text or 32 raw bytes); a
        bundle not signed by one of them is refused.
        draft: a smaller model of the same vocabulary (a path, loaded with the same
        threads and max_context, or an Engine) that drafts tokens for every generation of
        the native backend, which checks them in one pass (edge_reason/speculative.py):
        greedy output is unchanged, sampled output keeps its distribution.
        """
        start = time.perf_counter()
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        threads = physical_cores() if threads is None else threads
        if not isinstance(threads, int) or isinstance(threads, bool) or not 1 <= threads <= 256:
            raise ValueError(f"threads must be an integer from 1 to 256, got {threads!r}")
        source = open_model_source(
            path, quant, native=backend == "native", trusted_keys=trusted_keys
        )
        config = source.config
        if isinstance(config, EncoderConfig):
            unused = {
                "max_context": max_context is not None,
                "kv_cache": kv_cache != "f32",
                "kv_cache_positions": kv_cache_positions is not None,
                "draft": draft is not None,
            }
            if any(unused.values()):
                given = ", ".join(k for k, v in unused.items() if v)
                raise ValueError(f"{source.path} is an encoder: {given} apply to generation only")
            weights = source.native_weights(0)
            encoder = Encoder.build(config, weights, source.tokenizer, source.path, threads)
            return cls(
                None,
                config,
                tokenizer=encoder.tokenizer,
                quant=source.quant,
                weight_bytes=weights.nbytes,
                path=source.path,
                load_seconds=time.perf_counter() - start,
                encoder=encoder,
            )
        if max_context is None:
            max_context = min(config.max_position_embeddings, DEFAULT_MAX_CONTEXT)
        if not isinstance(max_context, int) or max_context < 1:
            raise ValueError(f"max_context must be a positive integer, got {max_context!r}")
        if kv_cache_positions is not None and (
            not isinstance(kv_cache_positions, int)
            or isinstance(kv_cache_positions, bool)
            or not max_context <= kv_cache_positions < 2**31
        ):
            raise ValueError(
                f"kv_cache_positions must be an integer from max_context ({max_context}) "
                f"to 2**31 - 1, got {kv_cache_positions!r}"
            )
        if backend == "native":
            weights = source.native_weights(max_context)
            runner: Backend = _native_engine(
                config, weights.tensors, threads, max_context, kv_cache, kv_cache_positions or 0
            )
            weights.release_copied(runner.info()["interleaved_weight_bytes"] > 0)
            weight_bytes, conversions = weights.nbytes, weights.conversions
        else:
            runner = open_backend(backend, source.bundle, threads, max_context)
            weight_bytes, conversions = runner.info()["weight_bytes_per_token"], None
        engine = cls(
            runner,
            config,
            tokenizer=source.tokenizer,
            quant=source.quant,
            weight_bytes=weight_bytes,
            path=source.path,
            load_seconds=time.perf_counter() - start,
            chat_template=source.chat_template,
        )
        engine.manifest = source.bundle.manifest if source.bundle is not None else None
        engine.weight_conversions = conversions
        engine.eos_token_ids |= source.end_of_generation_ids
        if draft is not None:
            if not isinstance(draft, Engine):
                draft = Engine.load(draft, threads=threads, max_context=max_context)
            check_draft(engine, draft)
            engine.draft = draft
        return engine

    # ---- information ----------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        if self._encoder is not None:
            return {
                "path": str(self.path),
                "architecture": self.config.architecture,
                "quant": self.quant,
                "load_seconds": self._load_seconds,
                **self._encoder.info(),
            }
        native = self._native.info()
        return {
            "path": str(self.path),
            "architecture": self.config.architecture,
            "quant": self.quant,
            "kernel": native["kernel"],
            "threads": native["threads"],
            "max_context": native["max_context"],
            "vocab_size": self.config.vocab_size,
            "weight_bytes": self._weight_bytes,
            "weight_bytes_per_token": native["weight_bytes_per_token"],
            # the kernels' interleaved copy of the quantized matrices (aarch64), else 0
            "interleaved_weight_bytes": native.get("interleaved_weight_bytes", 0),
            "kv_cache_bytes": native["kv_cache_bytes"],
            # the native engine's cache: positions per page, and its bound (0: none)
            "kv_page_positions": native.get("kv_page_positions"),
            "kv_cache_positions": native.get("kv_cache_positions"),
            "load_seconds": self._load_seconds,
            "tokens_evaluated": self._native.tokens_evaluated,
            **({"gguf_conversions": self.weight_conversions} if self.weight_conversions else {}),
            "chat_template": self._chat_template.origin if self._chat_template else None,
            "thinking_tags": self._thinking_tags(),
        }

    def _thinking_tags(self) -> str | None:
        """The thinking tags as "<open> <close>", or None (the rule: edge_reason/thinking.py)."""
        if self._chat_template is None or self.tokenizer is None:
            return None
        tags = self._chat().thinking
        return f"{tags.open} {tags.close}" if tags else None

    @property
    def tokens_evaluated(self) -> int:
        """Tokens run through the model so far (prefill and decode; for an encoder, the
        tokens of the texts embedded)."""
        if self._encoder is not None:
            return self._encoder.tokens_evaluated
        return self._native.tokens_evaluated

    # ---- tokens ----------------------------------------------------------------------

    @property
    def tokenizer(self) -> Any | None:
        """The tokenizers.Tokenizer, loaded on first use (None if the model has none).

        A large vocabulary costs tens of MB and a fraction of a second to load,
        which a run on token ids never needs.
        """
        if isinstance(self._tokenizer, (Path, bytes)):
            self._tokenizer = load_tokenizer(self._tokenizer, self.path)
        return self._tokenizer

    def encode(self, text: str) -> list[int]:
        if self.tokenizer is None:
            raise ValueError(f"{self.path} has no tokenizer.json: pass token ids instead of text")
        return self.tokenizer.encode(text).ids

    def decode(self, token_ids: Sequence[int]) -> str:
        if self.tokenizer is None:
            raise ValueError(f"{self.path} has no tokenizer.json: cannot turn ids into text")
        return self.tokenizer.decode(list(token_ids), skip_special_tokens=True)

    def _prompt_ids(self, prompt: str | Sequence[int]) -> list[int]:
        if isinstance(prompt, (bytes, bytearray, memoryview)):
            raise TypeError("the prompt is bytes: decode it to a str, or pass a list of token ids")
        ids = self.encode(prompt) if isinstance(prompt, str) else list(prompt)
        if not ids:
            raise ValueError("the prompt is empty: give at least one token")
        vocab = self.config.vocab_size
        for i, t in enumerate(ids):
            if not isinstance(t, (int, np.integer)) or isinstance(t, bool):
                raise TypeError(f"token at index {i} is {t!r}, not an int")
            if not 0 <= t < vocab:
                raise ValueError(
                    f"token id {t} at index {i} is outside the vocabulary [0, {vocab})"
                )
        limit = self._native.info()["max_context"]
        if len(ids) > limit:
            raise ValueError(f"the prompt has {len(ids)} tokens but max_context is {limit}")
        return [int(t) for t in ids]

    # ---- embeddings (encoders) ------------------------------------------------------

    @property
    def is_encoder(self) -> bool:
        """True for a BERT-style encoder (it embeds text: :meth:`embed`), False for a causal
        language model (it generates)."""
        return self._encoder is not None

    def embed(
        self, texts: Sequence[str], *, batch_size: int = 32, truncate: bool = False
    ) -> np.ndarray:
        """float32 [len(texts), dim]: the sentence embedding of each text, as the model's
        sentence-transformers config makes it (mean or [CLS] pooling, L2-normalized if it
        has a Normalize module). An encoder (BERT) only: see edge_reason/encoder.py.

        batch_size: texts per forward pass, run as one set of matrix products over all
        their tokens (no padding). truncate: cut a text longer than max_seq_length tokens
        to that length, as sentence-transformers does; otherwise such a text is an error
        (ValueError naming it and its token count).
        """
        if self._encoder is None:
            raise ValueError(
                f"{self.path} is a causal language model ({self.config.architecture}): it "
                "generates text, it does not embed it; embed needs an encoder (bert)"
            )
        return self._encoder.embed(texts, batch_size=batch_size, truncate=truncate)

    # ---- running -------------------------------------------------------------------

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Serialise calls: other threads wait; re-entry from the same thread is an error."""
        me = threading.get_ident()
        if self._owner == me:
            raise RuntimeError(
                "this Engine is already busy in this thread (an unfinished stream?): "
                "finish or close it before starting another call"
            )
        with self._lock:
            self._owner = me
            try:
                yield
            finally:
                self._owner = None

    @_generates
    def logits(self, token_ids: Sequence[int]) -> np.ndarray:
        """float32 [len(token_ids), vocab_size]: next-token logits after each token,
        computed from an empty cache."""
        ids = self._prompt_ids(token_ids)
        with self._exclusive():
            out = self._native.logits_all(np.asarray(ids, dtype=np.int32))
            self._sequence = ids
        return out

    @_generates
    def prefill(
        self, prompt: str | Sequence[int], *, prefix: PromptState | None = None
    ) -> PromptState:
        """Run a prompt (after `prefix`, if given) and mark the result for reuse. Only what
        the cache does not already hold is run: after a prefix, any of its tokens and the
        prompt's that the cache still has from an earlier call are kept."""
        ids = self._prompt_ids(prompt)
        with self._exclusive():
            if prefix is None:
                self._append(ids, reset=True)
                return PromptState(tuple(ids), self._native.last_logits())
            whole = (*prefix.token_ids, *ids)  # ids is never empty: its logits are wanted
            self._hold(whole, None)
            return PromptState(whole, self._native.last_logits())

    def _hold(self, ids: Sequence[int], logits: np.ndarray | None) -> int:
        """Make the cache hold exactly ``ids`` and return how many tokens had to be run.
        ``logits``: those that follow ``ids``, if known; then a cache that holds ``ids``
        already runs nothing."""
        n = len(ids)
        self._take_kept_prefix(ids)
        if logits is not None and tuple(self._sequence[:n]) == tuple(ids):
            self._native.rewind(n, logits)
            del self._sequence[n:]
            return 0
        # Keep what the cache shares with ids (a prompt, the start of a chain that branched)
        # and run the rest: at least the last token, whose logits are wanted.
        shared = _shared_prefix(self._sequence, ids, n - 1)
        if shared < len(self._sequence):
            # the logits passed are a placeholder: the append replaces them
            self._native.rewind(shared, self._native.last_logits())
            del self._sequence[shared:]
        self._append(list(ids[shared:]), reset=False)
        return n - shared

    def _take_kept_prefix(self, ids: Sequence[int]) -> None:
        """Make sequence 0 the longest prefix of ``ids`` that a kept sequence holds, if it
        is longer than what sequence 0 shares with ``ids`` (its pages are shared, not run)."""
        best, source = _shared_prefix(self._sequence, ids, len(ids)), None
        if best >= len(ids) - 1:
            return  # a growing sequence (chain search, drafting): nothing to look for
        for tokens, sequence in self._kept:
            shared = _shared_prefix(tokens, ids, len(ids))
            if shared > best:
                best, source = shared, (tokens, sequence)
        if source is not None:
            self._native.assign(0, source[1], best)
            self._sequence = list(source[0][:best])

    def _keep(self, kept: list[tuple[list[int], int]]) -> None:
        """Keep these sequences (closing those kept before)."""
        for _, sequence in self._kept:
            self._native.close_sequence(sequence)
        self._kept = kept

    def _start(self, ids: list[int], state: PromptState | None) -> int:
        """Put a generation's prompt in the cache (a state's prefix is kept); how many
        tokens were run."""
        if state is not None:
            return self._hold(state.token_ids, state.logits)
        self._append(ids, reset=True)
        return len(ids)

    def _append(self, ids: list[int], *, reset: bool) -> None:
        if reset:
            self._native.rewind(0, self._native.last_logits())
            self._sequence = []
        if not ids:
            return
        self._native.append(np.asarray(ids, dtype=np.int32))
        self._sequence.extend(ids)

    @overload
    def generate(
        self,
        prompt: str | Sequence[int] | PromptState,
        sampling: SamplingParams | None = None,
        *,
        n: None = None,
        **options: Unpack[SamplingOptions],
    ) -> Generation: ...

    @overload
    def generate(
        self,
        prompt: str | Sequence[int] | PromptState,
        sampling: SamplingParams | None = None,
        *,
        n: int,
        **options: Unpack[SamplingOptions],
    ) -> list[Generation]: ...

    @_generates
    def generate(
        self,
        prompt: str | Sequence[int] | PromptState,
        sampling: SamplingParams | None = None,
        *,
        n: int | None = None,
        **options: Unpack[SamplingOptions],
    ) -> Generation | list[Generation]:
        """Generate after the prompt: the whole of :meth:`stream`, without making text
        pieces unless stop strings need them (the text is then decoded on first read).

        n: n samples of the prompt instead of one, as a list, decoded together (see
        :meth:`generate_batch`) from one prefill of the prompt; with a seed s, sample i
        is the one generate(prompt, seed=s + i) gives.

        sampling: a SamplingParams; options: its fields as keywords (max_new_tokens=128,
        temperature=0.0 (greedy), top_k, top_p, repetition_penalty, seed, stop,
        time_limit_s, logit_processors, response_format), replacing those of `sampling`.
        response_format: a JSON schema, JSON object, regex or grammar the text must follow
        (edge_reason/structured_output.py); generation ends where the format is complete.
        """
        params = SamplingParams.build(sampling, options)
        if n is not None:
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"n must be a positive integer, got {n!r}")
            seeds = [None if params.seed is None else params.seed + i for i in range(n)]
            return self._together([prompt] * n, [replace(params, seed=s) for s in seeds])
        return self._stream(prompt, params, pieces=bool(params.stop)).collect()

    @_generates
    def generate_batch(
        self,
        prompts: Sequence[str | Sequence[int] | PromptState],
        sampling: SamplingParams | Sequence[SamplingParams] | None = None,
        **options: Unpack[SamplingOptions],
    ) -> list[Generation]:
        """Generate after each prompt, decoding them together: each step runs the next
        token of every unfinished sequence in one pass over the weights, and each stops
        on its own. Result i is, token for token, what generate(prompts[i], ...) gives
        under greedy decoding and for the same seed (seed None: each its own random
        one). A prompt may be text, token ids or a PromptState, whose prefix the
        sequences started from it share in the cache without copying it.

        sampling: one SamplingParams for all, or one per prompt; options replace their
        fields. Backends without batches (onnxruntime, LiteRT) run one after another.
        """
        if isinstance(prompts, (str, PromptState)) or not isinstance(prompts, Sequence):
            raise TypeError(
                "generate_batch takes a list of prompts (text, token ids or PromptState), "
                f"got {type(prompts).__name__}"
            )
        if sampling is None or isinstance(sampling, SamplingParams):
            each = [sampling] * len(prompts)
        else:
            each = list(sampling)
            if len(each) != len(prompts):
                raise ValueError(
                    f"generate_batch: {len(prompts)} prompts but {len(each)} SamplingParams"
                )
        if not prompts:
            return []
        return self._together(list(prompts), [SamplingParams.build(p, options) for p in each])

    @_generates
    def batch_session(self) -> BatchSession:
        """A session in which generations started from several threads (stream or
        chat_stream with ``batch=session``) decode together, one pass over the weights per
        step for all of them, each joining at the next step and leaving when it ends
        (continuous batching). Use it as a context manager; while it is open, the engine
        runs nothing else (other calls wait for it to close). The native backend only."""
        if not self.batches:
            raise ValueError(f"{self.path}: this backend does not decode in batches")
        return BatchSession(self._native, self._lock)

    @property
    def batches(self) -> bool:
        """Whether batches decode together here (the native backend); elsewhere
        generate_batch runs its prompts one after another."""
        return hasattr(self._native, "decode")

    def _check_batch(self, batch: BatchSession | None) -> BatchSession | None:
        if batch is not None and not batch.serves(self._native):
            raise ValueError("batch must be an open batch_session() of this engine")
        return batch

    def _together(
        self, prompts: list[str | Sequence[int] | PromptState], params: list[SamplingParams]
    ) -> list[Generation]:
        """generate for each (prompt, params), decoded as one batch."""
        if not self.batches:
            return [
                self._stream(q, p, pieces=bool(p.stop)).collect()
                for q, p in zip(prompts, params, strict=True)
            ]
        starts: list[tuple[list[int], PromptState | None]] = []
        for prompt in prompts:
            state = prompt if isinstance(prompt, PromptState) else None
            starts.append((list(state.token_ids) if state else self._prompt_ids(prompt), state))  # type: ignore[arg-type]
        prepared = [
            self._prepared(ids, p, None) for (ids, _), p in zip(starts, params, strict=True)
        ]
        with self._exclusive():
            return self._decode_together(starts, prepared)

    def _decode_together(
        self,
        starts: list[tuple[list[int], PromptState | None]],
        prepared: list[tuple[SamplingParams, frozenset[int]]],
    ) -> list[Generation]:
        native = self._native
        members: list[BatchMember] = []
        prefill: list[tuple[int, float]] = []  # per member: tokens run, seconds
        first_of: dict[Any, int] = {}  # a prompt's key -> its first member
        try:
            for i, ((ids, state), (p, end_ids)) in enumerate(zip(starts, prepared, strict=True)):
                # A prompt runs in sequence 0 as generate runs it, then each of its
                # members continues in a sequence opened from it, sharing its pages.
                key = (tuple(ids), id(state.logits) if state else None)
                t0 = time.perf_counter()
                run = 0
                if key not in first_of or self._sequence != ids:
                    run = self._start(ids, state)
                    first_of[key] = i
                sequence = native.open_sequence(0, len(ids))
                prefill.append((run, time.perf_counter() - t0))
                logits = SequenceLogits(native.last_logits(), p.seed)
                loop = DecodeLoop(logits, _caller_runs, ids, p, end_ids, time.perf_counter())
                members.append(BatchMember(sequence, logits, loop, self._tokenizer_if(p), p.stop))
            # Sequence 0 lets go of its last prompt's partial page, which the members
            # would otherwise each copy before writing into it (the kept members hold it).
            page = native.info()["kv_page_positions"]
            held = len(self._sequence) // page * page
            native.truncate(0, held)
            del self._sequence[held:]
            started = time.perf_counter()
            decode_together(native, members)
        except BaseException:
            for member in members:
                native.close_sequence(member.sequence)
            raise
        self._keep(
            [
                ([*ids, *m.loop.tokens][: native.sequence_length(m.sequence)], m.sequence)
                for (ids, _), m in zip(starts, members, strict=True)
            ]
        )
        results = []
        for (ids, _), member, (run, seconds) in zip(starts, members, prefill, strict=True):
            text, finish = member.finish()
            loop = member.loop
            body = [t for t in loop.tokens if t not in loop.end_ids]
            results.append(
                Generation(
                    text=text if text is not None else self._decoder(body),
                    token_ids=loop.tokens,
                    stats=GenerationStats(
                        prompt_tokens=len(ids),
                        generated_tokens=len(loop.tokens),
                        prefill_seconds=seconds,
                        decode_seconds=member.ended_at - started,
                        prefilled_tokens=run,
                    ),
                    finish_reason=finish,
                )
            )
        return results

    def _tokenizer_if(self, p: SamplingParams) -> Any | None:
        """The detokenizer stop strings are watched with, if p has any."""
        return self.tokenizer if p.stop else None

    def _decoder(self, body: list[int]) -> str | Callable[[], str]:
        """The text of generated tokens, decoded when first read ("" without a tokenizer)."""
        return (lambda: self.decode(body)) if self._tokenizer is not None else ""

    @_generates
    def stream(
        self,
        prompt: str | Sequence[int] | PromptState,
        sampling: SamplingParams | None = None,
        *,
        batch: BatchSession | None = None,
        **options: Unpack[SamplingOptions],
    ) -> Stream[str]:
        """Like generate, yielding text pieces as they are produced (whole characters only);
        the stream's `generation` holds the result (stats included) once it is exhausted.
        batch: a :meth:`batch_session` of this engine to decode in, beside the other
        generations of that session (from other threads)."""
        if self.tokenizer is None:
            raise ValueError(f"{self.path} has no tokenizer.json: stream needs one to make text")
        params = SamplingParams.build(sampling, options)
        return self._stream(prompt, params, pieces=True, batch=self._check_batch(batch))

    def _stream(
        self,
        prompt: str | Sequence[int] | PromptState,
        params: SamplingParams,
        *,
        pieces: bool,
        turn: ChatTurn | None = None,
        batch: BatchSession | None = None,
    ) -> Stream[str]:
        result: list[Generation] = []
        run = self._run(prompt, params, result, pieces=pieces, turn=turn, batch=batch)
        return Stream(run, result)

    # ---- chat ------------------------------------------------------------------------

    @property
    def chat_template(self) -> str | None:
        """The Jinja source of the model's chat template, or None if it has none."""
        return self._chat_template.source if self._chat_template else None

    @_generates
    def apply_chat_template(
        self,
        messages: Sequence[dict[str, Any]],
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        add_generation_prompt: bool = True,
        enable_thinking: bool | None = None,
        **extra: Any,
    ) -> str:
        """The prompt text the model's template makes of `messages` (as transformers'
        apply_chat_template(..., tokenize=False)). tools: JSON-schema dicts.
        enable_thinking: passed to the template unless None; extra: more template variables."""
        if self._chat_template is None:
            where = "no tokenizer.chat_template" if self.path.is_file() else WHERE_TEMPLATES_ARE
            raise ModelFormatError(f"{self.path} has no chat template ({where})")
        if enable_thinking is not None:
            extra["enable_thinking"] = enable_thinking
        return self._chat_template.render(
            messages, tools=tools, add_generation_prompt=add_generation_prompt, **extra
        )

    @_generates
    def chat(
        self,
        messages: Sequence[dict[str, Any]],
        sampling: SamplingParams | None = None,
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] = "auto",
        parallel_tool_calls: bool = True,
        add_generation_prompt: bool = True,
        enable_thinking: bool | None = None,
        thinking_budget: int | None = None,
        **options: Unpack[SamplingOptions],
    ) -> Generation:
        """The model's reply to a conversation: text is the answer, reasoning what it wrote
        between its thinking tags. Generation stops at an end-of-turn token.

        tools: functions the model may call (OpenAI's {"type": "function", "function":
        {"name", "description", "parameters"}}), offered in the model's own format; its
        calls come back in tool_calls, their arguments valid against each tool's schema
        (edge_reason/tool_calls.py). tool_choice: "auto", "none", "required" or
        {"type": "function", "function": {"name": ...}}; parallel_tool_calls: allow more
        than one call in a reply. Messages may hold past calls (an assistant message's
        tool_calls) and their results ({"role": "tool", "content": ...}).
        thinking_budget: close the thinking after this many tokens of it (budget forcing).
        sampling, options: as for generate (max_new_tokens, temperature, ...).
        """
        return self.chat_stream(
            messages,
            sampling,
            tools=tools,
            tool_choice=tool_choice,
            parallel_tool_calls=parallel_tool_calls,
            add_generation_prompt=add_generation_prompt,
            enable_thinking=enable_thinking,
            thinking_budget=thinking_budget,
            **options,
        ).collect()

    @_generates
    def chat_stream(
        self,
        messages: Sequence[dict[str, Any]],
        sampling: SamplingParams | None = None,
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] = "auto",
        parallel_tool_calls: bool = True,
        add_generation_prompt: bool = True,
        enable_thinking: bool | None = None,
        thinking_budget: int | None = None,
        batch: BatchSession | None = None,
        **options: Unpack[SamplingOptions],
    ) -> Stream[ChatPiece]:
        """Like chat, yielding ChatPiece(text, kind="reasoning" | "answer") as they are made
        (a tool call is not streamed as text: it is in the generation's tool_calls).
        batch: as for stream."""
        if self.tokenizer is None or self._chat_template is None:
            self.apply_chat_template(messages)  # names what is missing
            raise ValueError(f"{self.path} has no tokenizer.json: chat needs one")
        chat = self._chat()
        offered = check_tools(tools) if tools is not None else []
        choice = check_tool_choice(tool_choice, offered)
        syntax = chat.tool_syntax
        prompt = self.apply_chat_template(
            # "none": a template that shows tools still does (as OpenAI's models see them);
            # one that shows none is not told to call any
            syntax.prompt_messages(messages, offered if choice != "none" else []),
            tools=tools if offered and syntax.renders_tools else None,  # as given, as transformers
            add_generation_prompt=add_generation_prompt,
            enable_thinking=enable_thinking,
        )
        params = SamplingParams.build(sampling, options)
        constrained = params.response_format is not None or (offered and choice != "none")
        if thinking_budget is not None and constrained:
            # budget forcing inserts the end of thinking, which the grammar has not allowed
            raise ResponseFormatError(
                "response_format and tools cannot be combined with thinking_budget: leave one out"
            )
        turn = chat.turn(prompt, thinking_budget)
        if offered and choice != "none":
            if params.response_format is not None:
                raise ResponseFormatError(
                    "response_format cannot be combined with tools (unless tool_choice is "
                    "'none'): the tool calls have their own format"
                )
            calls = syntax.response_format(
                offered,
                choice,
                parallel=parallel_tool_calls,
                thinking=turn.thinking,
                inside_thinking=turn.starts_inside_thinking,
                added_tokens=chat.added_tokens,
            )
            params = replace(params, response_format=calls)
        batch = self._check_batch(batch)
        text = self._stream(chat.encode(prompt), params, pieces=True, turn=turn, batch=batch)
        pieces = text.split_thinking(turn.splitter())
        if offered and choice != "none":
            return pieces.with_tool_calls(syntax, offered)
        return pieces

    @property
    def tool_call_syntax(self) -> ToolCallSyntax | None:
        """How the model writes tool calls and whether its template shows it tools (None
        without a chat template or a tokenizer)."""
        if self._chat_template is None or self.tokenizer is None:
            return None
        return self._chat().tool_syntax

    def _chat(self) -> ChatFormat:
        if self._chat_format is None:
            assert self._chat_template is not None
            self._chat_format = ChatFormat(self._chat_template, self.tokenizer, self.eos_token_ids)
        return self._chat_format

    def _run(
        self,
        prompt: str | Sequence[int] | PromptState,
        p: SamplingParams,
        result: list[Generation],
        *,
        pieces: bool,
        turn: ChatTurn | None = None,
        batch: BatchSession | None = None,
    ) -> Iterator[str]:
        """Generate, yielding text pieces when `pieces` (streaming, or stop strings to
        watch for; otherwise the text is decoded when first read), then append the
        Generation to `result`. turn: a chat reply's end-of-turn tokens, decoding and
        thinking budget. batch: run in that session's batch, else in sequence 0."""
        state = prompt if isinstance(prompt, PromptState) else None
        ids = list(state.token_ids) if state else self._prompt_ids(prompt)  # type: ignore[arg-type]
        p, end_ids = self._prepared(ids, p, turn)
        runner: SequenceRunner = batch.member() if batch is not None else _FirstSequence(self)
        with runner.exclusive(), contextlib.closing(runner):
            t0 = time.perf_counter()
            prefilled = runner.start(ids, state)
            t1 = time.perf_counter()
            loop, tokens = runner.decode_loop(ids, p, end_ids, t1)
            detokenizer = turn.detokenizer if turn else self.tokenizer
            text: str | Callable[[], str]
            if pieces and detokenizer:
                watcher = StopStrings(p.stop)
                yield from _text_pieces(loop, tokens, TextStream(detokenizer), watcher, turn)
                text, finish = watcher.text, "stop" if watcher.stopped else loop.finish_reason
            else:
                for _ in tokens:
                    pass
                text = self._decoder([t for t in loop.tokens if t not in end_ids])
                finish = loop.finish_reason
            t2 = time.perf_counter()
            result.append(
                Generation(
                    text=text,
                    token_ids=loop.tokens,
                    stats=GenerationStats(
                        prompt_tokens=len(ids),
                        generated_tokens=len(loop.tokens),
                        prefill_seconds=t1 - t0,
                        decode_seconds=t2 - t1,
                        prefilled_tokens=prefilled,
                    ),
                    finish_reason=finish,
                )
            )

    def _decode_loop(
        self, ids: list[int], p: SamplingParams, end_ids: frozenset[int], started: float
    ) -> tuple[DecodeLoop, Iterator[int]]:
        """The loop that generates after ``ids`` (in sequence 0) and its tokens, drafted
        and checked several at a time for prompt-lookup decoding."""
        proposer = self._proposer(ids, p)
        if proposer is None:
            if p.seed is not None:
                self._native.seed(p.seed)
            loop = DecodeLoop(self._native, self._run_tokens, ids, p, end_ids, started)
            return loop, iter(loop)
        # The same draws as the engine's sampler seeded alike (seed None: a random seed).
        view = DraftedLogits(self._native.last_logits(), p.seed)
        loop = DecodeLoop(view, _caller_runs, ids, p, end_ids, started)

        def extend(tokens: list[int], rows: int) -> np.ndarray:
            logits = self._native.extend(0, np.asarray(tokens, dtype=np.int32), rows)
            self._sequence.extend(tokens)
            return logits

        def truncate(length: int) -> None:
            self._native.truncate(0, length)
            del self._sequence[length:]

        return loop, speculative_tokens(loop, view, extend, truncate, proposer)

    def _proposer(self, ids: list[int], p: SamplingParams) -> Proposer | None:
        """What drafts tokens for a generation after ``ids``: the call's draft model, else
        prompt lookup if asked, else the draft model loaded with the engine, if any."""
        if not self.batches:
            return None  # other backends run one token per pass
        if p.draft is not None:
            check_draft(self, p.draft)
            return DraftModel(p.draft, ids, p)
        if p.speculative == "prompt-lookup":
            return NgramLookup(ids)
        if self.draft is not None:
            return DraftModel(self.draft, ids, p)
        return None

    @_generates
    def next_logits(self, token_ids: Sequence[int]) -> np.ndarray:
        """float32 [vocab_size]: the next-token logits after ``token_ids``, running only
        the tokens the cache does not hold yet (a growing sequence: one per call)."""
        ids = self._prompt_ids(token_ids)
        with self._exclusive():
            self._hold(ids, None)
            return self._native.last_logits()

    def _prepared(
        self, ids: list[int], p: SamplingParams, turn: ChatTurn | None
    ) -> tuple[SamplingParams, frozenset[int]]:
        """The params a generation after ``ids`` runs with (its grammar, a processor of
        its own, added) and its end tokens; raises ValueError if it cannot fit."""
        limit = self._native.info()["max_context"]
        reserved = turn.reserved_tokens if turn else 0
        if len(ids) + p.max_new_tokens - 1 + reserved > limit:
            raise ValueError(
                f"prompt ({len(ids)} tokens) + max_new_tokens ({p.max_new_tokens}) exceeds "
                f"max_context ({limit}): shorten them or load with a larger max_context"
            )
        end_ids = turn.stop_token_ids if turn else self.eos_token_ids
        if p.response_format is not None:  # the grammar goes last: nothing re-allows a token
            grammar = GrammarProcessor(self._grammar_tokenizer(end_ids), p.response_format)
            p = replace(p, logit_processors=(*p.logit_processors, grammar))
        return p, end_ids

    @_generates
    def grammar_processor(self, response_format: Any) -> GrammarProcessor:
        """The logit processor `generate` adds for `response_format` (a dict or a parsed
        ResponseFormat; EOS ends it), for callers that choose each token themselves from
        PromptState logits (the reasoning layer's chain search). Raises ValueError without
        a tokenizer.json, ResponseFormatError for a bad format."""
        return GrammarProcessor(
            self._grammar_tokenizer(self.eos_token_ids), ResponseFormat.parse(response_format)
        )

    def _grammar_tokenizer(self, end_ids: frozenset[int]) -> Any:
        """The llguidance tokenizer for structured output (built once: ~0.5 s at 49k tokens)."""
        if end_ids not in self._grammar_tokenizers:
            if self.tokenizer is None:
                raise ValueError(f"{self.path} has no tokenizer.json: response_format needs one")
            self._grammar_tokenizers[end_ids] = grammar_tokenizer(
                self.tokenizer, self.config.vocab_size, end_ids
            )
        return self._grammar_tokenizers[end_ids]

    def _run_tokens(self, ids: list[int]) -> None:
        self._append(ids, reset=False)


class _FirstSequence:
    """How a lone generation runs: in sequence 0, holding the engine (a SequenceRunner)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def exclusive(self) -> AbstractContextManager[None]:
        return self._engine._exclusive()

    def start(self, ids: list[int], state: PromptState | None) -> int:
        return self._engine._start(ids, state)

    def decode_loop(
        self, ids: list[int], p: SamplingParams, end_ids: frozenset[int], started: float
    ) -> tuple[DecodeLoop, Iterator[int]]:
        return self._engine._decode_loop(ids, p, end_ids, started)

    def close(self) -> None:
        pass


def _caller_runs(tokens: list[int]) -> None:
    raise AssertionError("this loop's tokens are run by its caller, not by the loop")


def _text_pieces(
    loop: DecodeLoop,
    tokens: Iterator[int],
    stream: TextStream,
    watcher: StopStrings,
    turn: ChatTurn | None,
) -> Iterator[str]:
    """The loop's tokens as text released by `watcher` (never empty pieces); a chat turn
    may insert tokens after one (budget forcing), whose text joins that token's."""
    for token in tokens:
        piece = stream.push(token)
        forced = turn.forced_tokens(piece) if turn else []
        if forced:
            loop.insert(forced)
            piece += "".join(stream.push(t) for t in forced)
        released = watcher.feed(piece)
        if released:
            yield released
        if watcher.stopped:
            break
    tail = "" if watcher.stopped or loop.finish_reason == "eos" else stream.flush()
    released = watcher.finish(tail)
    if released:
        yield released


def _shared_prefix(held: list[int], wanted: Sequence[int], limit: int) -> int:
    """How many leading tokens ``held`` and ``wanted[:limit]`` have in common. The usual
    case, ``held`` a prefix of ``wanted`` (a chain growing by a token), is one comparison."""
    m = min(len(held), limit)
    if held[:m] == list(wanted[:m]):
        return m
    return next(i for i in range(m) if held[i] != wanted[i])


def _native_engine(
    config: ModelConfig,
    tensors: dict[str, Any],
    threads: int,
    max_context: int,
    kv_cache: str,
    kv_cache_positions: int,
) -> Backend:
    try:
        return _native.NativeEngine(
            native_spec.native_config(config, max_context, min(PREFILL_CHUNK, max_context)),
            native_spec.native_weights(tensors),
            threads,
            "",
            kv_cache,
            kv_cache_positions,
        )
    except RuntimeError as e:  # e.g. EDGE_REASON_KERNEL names a kernel this CPU lacks
        raise RuntimeError(f"cannot start the engine: {e}") from e
