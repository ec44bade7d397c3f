"""Generated text held back while a stop string may still claim it.

Text pieces go in as they are decoded (text_stream.TextStream); what comes out is
the text no stop string can still cover, so a stream never shows the start of a
stop string that a later token completes. Once one appears, the text ends where it
starts.
"""

from __future__ import annotations

from .text_stream import first_stop


class StopStrings:
    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = stops
        self._hold = max((len(s) for s in stops), default=1) - 1  # chars a stop may claim
        self.text = ""  # all the text so far, cut before a stop string once one is seen
        self.stopped = False
        self._released = 0  # characters of `text` handed out

    def feed(self, piece: str) -> str:
        """Add generated text; return what is now safe to show ('' for nothing yet)."""
        self.text += piece
        if self._cut():
            return self._release(len(self.text))
        return self._release(len(self.text) - self._hold)

    def finish(self, tail: str = "") -> str:
        """Add the last text (`tail`) and return all that is still held back."""
        self.text += tail
        self._cut()
        return self._release(len(self.text))

    def _cut(self) -> bool:
        at = first_stop(self.text, self._stops)
        if at is None:
            return False
        self.text, self.stopped = self.text[:at], True
        return True

    def _release(self, end: int) -> str:
        if end <= self._released:
            return ""
        piece, self._released = self.text[self._released : end], end
        return piece
