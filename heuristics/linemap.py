"""Line numbers for the tables and keys of a TOML document.

``tomllib`` reports lines for syntax errors only; a pack loader also needs them for semantic
errors ("unknown input 'x'" in the third ``[[rule]]``). This light scanner records the line of
every table header and key, addressed by path: ``("rule", 2, "when")`` is the ``when`` key of
the third ``[[rule]]``. It tracks strings, multi-line strings, arrays and comments so that
text inside values is never mistaken for a header or a key. It also notes where values nest
deepest and the longest number they hold, for the loader's bounds (toml_limits.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

Path = tuple[str | int, ...]

_ARRAY_HEADER = re.compile(r"\[\[\s*(.+?)\s*\]\]\s*(#.*)?$")
_TABLE_HEADER = re.compile(r"\[\s*(.+?)\s*\]\s*(#.*)?$")
_KEY = re.compile(
    r"((?:[A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*'))*)\s*="
)
_KEY_PART = re.compile(r"\"([^\"]*)\"|'([^']*)'|([A-Za-z0-9_\-]+)")


class LineMap:
    """Where each table and key of a TOML text starts."""

    def __init__(self, text: str) -> None:
        self._lines: dict[Path, int] = {}
        self._values = _ValueState()
        self._scan(text)

    @property
    def deepest_nesting(self) -> tuple[int, int]:
        """How deep arrays and inline tables nest in a value, and the line where it is deepest."""
        return self._values.deepest

    @property
    def longest_number(self) -> tuple[int, int]:
        """The most digits in a row outside strings and comments, and the line they are on."""
        return self._values.longest_digits

    def line_of(self, path: Sequence[str | int]) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one (None if none)."""
        path = tuple(path)
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return None

    def _scan(self, text: str) -> None:
        table: Path = ()
        array_counts: dict[Path, int] = {}
        state = self._values
        for number, line in enumerate(text.splitlines(), start=1):
            if state.continues:
                state.scan(line, number)
                continue
            stripped = line.strip()
            array = _ARRAY_HEADER.match(stripped)
            plain = None if array else _TABLE_HEADER.match(stripped)
            if array:
                path = _key_path(array.group(1))
                index = array_counts.get(path, 0)
                array_counts[path] = index + 1
                table = (*path, index)
                self._lines[table] = number
            elif plain:
                table = _key_path(plain.group(1))
                self._lines.setdefault(table, number)
            else:
                key = _KEY.match(stripped)
                if key:
                    self._lines.setdefault((*table, *_key_path(key.group(1))), number)
                    state.scan(stripped[key.end() :], number)


def _key_path(text: str) -> Path:
    return tuple(
        next(group for group in m.groups() if group is not None) for m in _KEY_PART.finditer(text)
    )


class _ValueState:
    """Whether a value runs on past the end of its line (open array or multi-line string)."""

    def __init__(self) -> None:
        self.depth = 0
        self.multiline: str | None = None
        self.deepest = (0, 0)  # (depth, line)
        self.longest_digits = (0, 0)  # (digits in a row, line)

    @property
    def continues(self) -> bool:
        return self.depth > 0 or self.multiline is not None

    def scan(self, text: str, line: int) -> None:
        position = 0
        digits = 0
        while position < len(text):
            if self.multiline is not None:
                end = text.find(self.multiline, position)
                if end == -1:
                    return
                position = end + 3
                self.multiline = None
                continue
            char = text[position]
            if char == "#":
                return
            if text.startswith(('"""', "'''"), position):
                self.multiline = text[position : position + 3]
                position += 3
            elif char in "\"'":
                position = _string_end(text, position)
            else:
                self.depth += (char in "[{") - (char in "]}")
                if self.depth > self.deepest[0]:
                    self.deepest = (self.depth, line)
                digits = digits + 1 if char.isdigit() or char == "_" else 0
                if digits > self.longest_digits[0]:
                    self.longest_digits = (digits, line)
                position += 1


def _string_end(text: str, start: int) -> int:
    """The index just after the one-line string opening at ``start``."""
    quote = text[start]
    position = start + 1
    while position < len(text) and text[position] != quote:
        # Only basic ("...") strings have backslash escapes.
        position += 2 if quote == '"' and text[position] == "\\" else 1
    return position + 1


def dotted(path: Sequence[str | int]) -> str:
    """A path as a reader finds it in the file: ``[[rule]] #3.when``, ``inputs.temperature``."""
    if not path:
        return "the pack"
    head, *rest = path
    text = f"[[{head}]] #{rest.pop(0) + 1}" if rest and isinstance(rest[0], int) else str(head)
    return ".".join([text, *map(str, rest)])
