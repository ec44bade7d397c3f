"""Streams returned by Engine.stream and Engine.chat_stream: iterators of pieces that
hold the whole Generation once they are exhausted.

    >>> stream = engine.chat_stream([{"role": "user", "content": "2+2?"}])
    >>> for piece in stream:
    ...     print(piece.text, end="")  # piece.kind: "reasoning" or "answer"
    >>> stream.generation.stats.decode_tokens_per_second
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

from .thinking import ChatPiece, ThinkingSplitter

if TYPE_CHECKING:
    from .engine import Generation
    from .tool_calls import Tool, ToolCallSyntax

Piece = TypeVar("Piece", str, ChatPiece)


class Stream(Generic[Piece]):
    """Pieces as they are produced; `generation` once the last one has been read.

    The engine stays busy until the stream is exhausted or closed.
    """

    def __init__(self, pieces: Iterator[Piece], result: list[Generation]) -> None:
        self._pieces = pieces
        self._result = result  # the producer appends the Generation when it finishes

    def __iter__(self) -> Stream[Piece]:
        return self

    def __next__(self) -> Piece:
        return next(self._pieces)

    def close(self) -> None:
        """Stop generating (what was produced so far is dropped)."""
        self._pieces.close()  # type: ignore[attr-defined]

    def collect(self) -> Generation:
        """Read the stream to the end and return the generation."""
        for _ in self:
            pass
        return self.generation

    def split_thinking(self: Stream[str], splitter: ThinkingSplitter) -> Stream[ChatPiece]:
        """This stream's text as reasoning and answer pieces; its generation, once read,
        has the answer as text and the reasoning as reasoning."""
        return Stream(chat_pieces(self._pieces, splitter, self._result), self._result)

    def with_tool_calls(
        self: Stream[ChatPiece], syntax: ToolCallSyntax, tools: Sequence[Tool]
    ) -> Stream[ChatPiece]:
        """This stream without the text of tool calls; its generation, once read, has the
        calls in tool_calls (finish_reason "tool_calls") and the text before them as text."""
        return Stream(tool_call_pieces(self._pieces, syntax, tools, self._result), self._result)

    @property
    def generation(self) -> Generation:
        if not self._result:
            raise RuntimeError("the stream is not finished: read it to the end first")
        return self._result[0]


def chat_pieces(
    pieces: Iterator[str], splitter: ThinkingSplitter, result: list[Generation]
) -> Iterator[ChatPiece]:
    """Split generated text into reasoning and answer pieces; once it ends, replace the
    Generation in `result` by one whose text is the answer and reasoning the reasoning."""
    parts: dict[str, list[str]] = {"reasoning": [], "answer": []}
    try:
        for text in pieces:
            for piece in splitter.feed(text):
                parts[piece.kind].append(piece.text)
                yield piece
    finally:
        pieces.close()  # type: ignore[attr-defined]  # closing this stream frees the engine
    for piece in splitter.flush():
        parts[piece.kind].append(piece.text)
        yield piece
    from .engine import Generation  # engine imports this module: import on use

    whole = result[0]
    result[0] = Generation(
        "".join(parts["answer"]),
        whole.token_ids,
        whole.stats,
        whole.finish_reason,
        reasoning="".join(parts["reasoning"]),
    )


def tool_call_pieces(
    pieces: Iterator[ChatPiece],
    syntax: ToolCallSyntax,
    tools: Sequence[Tool],
    result: list[Generation],
) -> Iterator[ChatPiece]:
    """The pieces up to where a tool call starts; once they end, replace the Generation in
    `result` by one whose text is the answer before the calls and tool_calls the calls."""

    def cut() -> bool:  # asked once the pieces end, when result holds the generation
        return result[0].finish_reason in ("length", "time")

    try:
        yield from syntax.visible_text(pieces, cut)
    finally:
        pieces.close()  # type: ignore[attr-defined]
    from .engine import Generation

    whole = result[0]
    text, calls = syntax.parse(whole.text, tools, cut=cut())
    result[0] = Generation(
        text,
        whole.token_ids,
        whole.stats,
        "tool_calls" if calls else whole.finish_reason,
        reasoning=whole.reasoning,
        tool_calls=calls,
    )
