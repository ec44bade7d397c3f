"""Structured output: a response_format turned into a token mask applied while sampling.

    >>> engine.generate(prompt, response_format={
    ...     "type": "json_schema",
    ...     "json_schema": {"name": "person", "schema": {"type": "object", ...}},
    ... })

Formats (OpenAI's shapes, plus regular expressions and grammars):

- ``{"type": "json_schema", "json_schema": {"name": ..., "schema": {...}, "strict": ...}}``
- ``{"type": "json_object"}``: any JSON object
- ``{"type": "regex", "pattern": "..."}`` (Rust regex syntax, matched whole)
- ``{"type": "grammar", "grammar": "...", "syntax": "lark" | "gbnf"}`` (syntax defaults to
  "lark"; llguidance reads GBNF as llama.cpp writes it)

The constrained decoding is llguidance's (docs/structured-output.md: why it, and its cost):
the format compiles to an llguidance grammar when SamplingParams is built, so a bad format
raises ResponseFormatError before anything runs. At generation a GrammarProcessor, the last
logit processor, advances the grammar's matcher by the tokens sampled since its last call and
sets every token the grammar forbids to -inf. End tokens are allowed only where the grammar
accepts, and once the grammar can take nothing more they are all that is left, so generation
ends there (finish_reason "eos").
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ResponseFormatError

FORMAT_TYPES = ("json_schema", "json_object", "regex", "grammar")
GRAMMAR_SYNTAXES = ("lark", "gbnf")


@dataclass(frozen=True)
class ResponseFormat:
    """A checked response_format: its type and the llguidance grammar it compiles to."""

    type: str
    grammar: str  # llguidance's grammar JSON

    @classmethod
    def parse(cls, spec: Any) -> ResponseFormat:
        """Check and compile a response_format dict; raises ResponseFormatError saying what
        is wrong (an unknown type, a missing field, a schema, regex or grammar that does
        not compile)."""
        if isinstance(spec, ResponseFormat):
            return spec
        if not isinstance(spec, Mapping):
            raise ResponseFormatError(
                f"response_format must be a dict with a 'type' ({', '.join(FORMAT_TYPES)}), "
                f"got {spec!r}"
            )
        kind = spec.get("type")
        if kind not in FORMAT_TYPES:
            raise ResponseFormatError(
                f"response_format type must be one of {', '.join(FORMAT_TYPES)}, got {kind!r}"
            )
        from llguidance import LLMatcher
        from llguidance.gbnf_to_lark import any_to_lark

        if kind == "json_schema":
            wrapper = spec.get("json_schema")
            if not isinstance(wrapper, Mapping) or not isinstance(wrapper.get("schema"), Mapping):
                raise ResponseFormatError(
                    "response_format json_schema needs "
                    '{"json_schema": {"name": ..., "schema": {...}}}, '
                    f"got {wrapper!r}"
                )
            schema = dict(wrapper["schema"])
            try:
                json.dumps(schema)
            except (TypeError, ValueError) as e:
                raise ResponseFormatError(f"response_format schema is not JSON: {e}") from e
            grammar = LLMatcher.grammar_from_json_schema(schema)
        elif kind == "json_object":
            grammar = LLMatcher.grammar_from_json_schema({"type": "object"})
        elif kind == "regex":
            pattern = spec.get("pattern")
            if not isinstance(pattern, str) or not pattern:
                raise ResponseFormatError(
                    f"response_format regex needs a non-empty 'pattern' string, got {pattern!r}"
                )
            grammar = LLMatcher.grammar_from_regex(pattern)
        else:
            text, syntax = spec.get("grammar"), spec.get("syntax", "lark")
            if not isinstance(text, str) or not text.strip():
                raise ResponseFormatError(
                    f"response_format grammar needs a non-empty 'grammar' string, got {text!r}"
                )
            if syntax not in GRAMMAR_SYNTAXES:
                raise ResponseFormatError(
                    f"response_format grammar syntax must be one of "
                    f"{', '.join(GRAMMAR_SYNTAXES)}, got {syntax!r}"
                )
            if syntax == "gbnf":
                try:
                    text = any_to_lark(text)
                except Exception as e:  # the converter raises plain exceptions
                    raise ResponseFormatError(f"response_format GBNF grammar: {e}") from e
            grammar = LLMatcher.grammar_from_lark(text)
        is_error, messages = LLMatcher.validate_grammar_with_warnings(grammar)
        if is_error:
            raise ResponseFormatError(f"response_format {kind} does not compile: {messages[0]}")
        return cls(kind, grammar)


def token_bytes(tokenizer: Any, vocab_size: int) -> tuple[list[bytes], list[int]]:
    """Each token id's bytes (b"" past the tokenizer's vocabulary) and the special ids.

    Byte-level BPE vocabularies (GPT-2's printable stand-ins for bytes) are mapped back to
    bytes; otherwise SentencePiece-style pieces have "▁" for a space and <0xXX> for a raw
    byte. Added tokens get llguidance's 0xFF prefix, so no text can spell them.
    """
    model = json.loads(tokenizer.to_str())
    byte_level = "ByteLevel" in json.dumps(model.get("decoder"))
    # every added token (control, or user-defined like <tool_call>, which the tokenizer only
    # ever matches whole) is special, as llguidance's own Hugging Face reader has it
    special = {t.content: i for i, t in tokenizer.get_added_tokens_decoder().items()}
    unicode_to_byte = _byte_of_char() if byte_level else {}
    tokens = [b""] * vocab_size
    for text, i in tokenizer.get_vocab(with_added_tokens=True).items():
        if i >= vocab_size:
            continue
        if text in special:
            tokens[i] = b"\xff" + text.encode()
        elif byte_level and all(c in unicode_to_byte for c in text):
            tokens[i] = bytes(unicode_to_byte[c] for c in text)
        elif len(text) == 6 and text.startswith("<0x") and text.endswith(">"):
            tokens[i] = bytes([int(text[3:5], 16)])
        else:
            tokens[i] = text.replace("▁", " ").encode()
    return tokens, sorted(i for i in special.values() if i < vocab_size)


def _byte_of_char() -> dict[str, int]:
    """The inverse of GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves,
    the others for chr(256 + n), n counting them in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0x100)]
    others = [b for b in range(256) if b not in set(printable)]
    table = {chr(b): b for b in printable}
    table.update({chr(256 + n): b for n, b in enumerate(others)})
    return table


class _Encoder:
    """What llguidance's TokenizerWrapper asks of a tokenizer: ids of EOS and BOS, the token
    bytes, the special ids, and encoding (for forced text; no special tokens added)."""

    def __init__(self, tokenizer: Any, tokens: list[bytes], special: list[int], eos: int):
        self._tokenizer = tokenizer
        self.tokens = tokens
        self.special_token_ids = special
        self.eos_token_id = eos
        self.bos_token_id = None

    def __call__(self, text: bytes) -> list[int]:
        """The tokenizer's ids for ``text``, as far as they spell it: a word-level
        vocabulary encodes what it cannot spell as its unknown token, which llguidance
        would force as if it were that text; the ids stop before it."""
        s = text.decode("utf-8", errors="replace")
        ids = self._tokenizer.encode(s, add_special_tokens=False).ids
        spelt = 0
        for count, i in enumerate(ids):
            piece = self.tokens[i] if i < len(self.tokens) else b""
            if not piece or piece[0] == 0xFF or not text.startswith(piece, spelt):
                return ids[:count]
            spelt += len(piece)
        return ids


def grammar_tokenizer(tokenizer: Any, vocab_size: int, end_ids: Iterable[int]) -> Any:
    """An llguidance LLTokenizer over `tokenizer` (a tokenizers.Tokenizer), with vocab_size
    entries (the model's logits) and `end_ids` as the tokens that end generation."""
    import llguidance

    ends = sorted(end_ids)
    if not ends:
        raise ValueError("structured output needs an end token: the model defines none")
    tokens, special = token_bytes(tokenizer, vocab_size)
    _check_spelling(tokenizer, tokens)
    wrapper = llguidance.TokenizerWrapper(_Encoder(tokenizer, tokens, special, ends[0]))
    return llguidance.LLTokenizer(wrapper, n_vocab=vocab_size, eos_token=ends)


# Text whose tokens must spell it byte for byte for a grammar over bytes to hold.
_SPELLING_PROBE = "Where is Mary?\nFacts: 1, 2.\nAnswer: 12 + 34 = 46"


def _check_spelling(tokenizer: Any, tokens: list[bytes]) -> None:
    """Raise ResponseFormatError when the tokenizer's text is not its tokens' bytes in a
    row: a word-level vocabulary that drops spaces and joins its words with them on
    decoding ("Answer : kitchen") makes a grammar over bytes see other text than is shown."""
    ids = tokenizer.encode(_SPELLING_PROBE, add_special_tokens=False).ids
    # the tokens that spell something (not an unknown or special one)
    ids = [i for i in ids if i < len(tokens) and tokens[i] and tokens[i][0] != 0xFF]
    spelt = b"".join(tokens[i] for i in ids)
    shown = tokenizer.decode(ids, skip_special_tokens=False).encode()
    # SentencePiece decoders drop the first token's leading space: not a difference
    if spelt.lstrip(b" ") != shown.lstrip(b" "):
        raise ResponseFormatError(
            "response_format: the model's tokenizer does not spell its text token by token "
            f"(it decodes {shown[:40]!r} from tokens that spell {spelt[:40]!r}), so no format "
            "can be enforced on it"
        )


class GrammarProcessor:
    """A logit processor that keeps the logits the grammar allows, -inf elsewhere.

    The first call marks where generation starts (the token ids it is given are the prompt);
    each later call feeds the matcher the tokens added since, then computes the mask.
    ``allows`` checks one token instead: greedy decoding takes the model's own choice when
    the grammar allows it, and masks only when it does not (the argmax of the masked logits
    is then the same token, without a mask per token).
    """

    def __init__(self, tokenizer: Any, fmt: ResponseFormat) -> None:
        self._matcher = _fresh_matcher(tokenizer, fmt.grammar)
        self._vocab = tokenizer.vocab_size
        self._mask = np.zeros((self._vocab + 31) // 32, dtype=np.int32)
        self._start: int | None = None
        self._fed = 0

    def allows(self, token_ids: Sequence[int], token: int) -> bool:
        """Whether the grammar takes ``token`` after ``token_ids`` (as __call__ is given)."""
        self._catch_up(token_ids)
        return not self._matcher.is_error() and self._matcher.validate_tokens([token]) == 1

    def _catch_up(self, token_ids: Sequence[int]) -> None:
        if self._start is None:
            self._start = len(token_ids)
        new = token_ids[self._start + self._fed :]
        if new:
            self._matcher.consume_tokens(list(new))
            self._fed += len(new)

    def __call__(self, token_ids: Sequence[int], logits: np.ndarray) -> None:
        self._catch_up(token_ids)
        m = self._matcher
        if m.is_error():
            # a token the mask let through that the grammar then refused: llguidance's
            # forced text that no token of the vocabulary spells (a word-level one without
            # "{" for JSON) comes to this
            reason = m.get_error().strip().splitlines()[0]
            raise ResponseFormatError(
                f"response_format: the model's vocabulary cannot follow the format ({reason})"
            )
        m.unsafe_compute_mask_ptr(self._mask.ctypes.data, self._mask.nbytes)
        if not self._mask.any():
            # nothing the format allows next is spelt by any token (a word-level vocabulary
            # without "{"): say so, rather than sample from logits that are all -inf
            written = self._fed and f" after {self._fed} token(s)"
            raise ResponseFormatError(
                f"response_format: no token of the model's vocabulary can write what the "
                f"format allows next{written or ''}"
            )
        allowed = np.unpackbits(self._mask.view(np.uint8), bitorder="little")
        logits[~allowed[: logits.shape[0]].view(bool)] = -np.inf


# Fresh matchers by (tokenizer, grammar): building one costs about 1 ms, copying one about
# 1 µs, and a grammar comes back often (a reasoning chain's every tool pause, a server's
# schema). The tokenizer is held, so its id names it while it is cached.
_PROTOTYPES: dict[tuple[int, str], tuple[Any, Any]] = {}
_PROTOTYPES_KEPT = 64


def _fresh_matcher(tokenizer: Any, grammar: str) -> Any:
    """A matcher for ``grammar`` in its start state (a copy of a cached one)."""
    from llguidance import LLMatcher

    key = (id(tokenizer), grammar)
    cached = _PROTOTYPES.pop(key, None)
    if cached is None:
        matcher = LLMatcher(tokenizer, grammar, log_level=0)
        if matcher.is_error():
            raise ResponseFormatError(f"response_format: {matcher.get_error()}")
        cached = (tokenizer, matcher)
        if len(_PROTOTYPES) >= _PROTOTYPES_KEPT:
            _PROTOTYPES.pop(next(iter(_PROTOTYPES)))  # the least recently used
    _PROTOTYPES[key] = cached
    return cached[1].deep_copy()
