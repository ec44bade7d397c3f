"""Multi-digit addition with the digit-by-digit scratchpad of Lee et al. (2023).

A data file holds blocks::

    Input:
    638+662
    Target:
    <scratch>
    [6,3,8] has 3 digits.
    [6,6,2] has 3 digits.
    [6,3,8] + [6,6,2] , A=[] , C=0 , 8+2+0=10 , A->0 , C->1
    ...
    [] + [] , A=[3,0,0] C=1 , END
    </scratch>
    1 3 0 0

The model writes the same scratchpad with ``;`` between the fields instead of ``,`` and ends
with ``#### 1300``: the verifier's plain-equation check reads a column sum such as
``8+2+0=10`` only when no comma joins it to its neighbours (``C=0 , 8+2`` would read as one
malformed number), and ``####`` is where the ``gsm8k`` prompt format finds the answer.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

from edge_reason.reasoning.errors import DataFormatError

_OPERANDS = re.compile(r"(\d+)\+(\d+)")
_FIELD_SEPARATOR = " , "
_CHAIN_SEPARATOR = " ; "

# the only arithmetic question the model is trained on: two non-negative integers added
QUESTION_PATTERN = r"\d+\+\d+"


@dataclass(frozen=True)
class Addition:
    """One problem: ``a+b``, its scratchpad lines (the data's wording) and where it is."""

    a: int
    b: int
    scratch: tuple[str, ...]
    where: str

    @property
    def question(self) -> str:
        return f"{self.a}+{self.b}"  # the form QUESTION_PATTERN accepts

    @property
    def answer(self) -> str:
        return str(self.a + self.b)

    @property
    def digits(self) -> int:
        """The length of the longer operand: what "n-digit addition" counts."""
        return max(len(str(self.a)), len(str(self.b)))

    @property
    def task(self) -> str:
        return f"add{self.digits}"

    def chain(self) -> str:
        """The scratchpad as the model writes it, ending with the ``#### sum`` line."""
        steps = [line.replace(_FIELD_SEPARATOR, _CHAIN_SEPARATOR) for line in self.scratch]
        return "\n".join(steps) + f"\n#### {self.answer}"


def read_additions(path: Path) -> list[Addition]:
    """Every Input/Target block of a scratchpad file; the written sum must be a + b."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataFormatError(f"{path}: cannot read ({error})") from None
    problems = []
    index = 0
    while index < len(lines):
        if not lines[index].strip():
            index += 1
            continue
        problem, index = _block(lines, index, path)
        problems.append(problem)
    if not problems:
        raise DataFormatError(f"{path}: no Input/Target blocks")
    return problems


def _block(lines: list[str], start: int, path: Path) -> tuple[Addition, int]:
    """The block starting at ``lines[start]`` and the index after it."""

    def expect(offset: int, what: str) -> str:
        if start + offset >= len(lines):
            raise DataFormatError(f"{path}:{start + 1}: the block ends before its {what}")
        return lines[start + offset].strip()

    where = f"{path}:{start + 1}"
    operands = _OPERANDS.fullmatch(expect(1, "operands"))
    if expect(0, "'Input:'") != "Input:" or operands is None:
        raise DataFormatError(f"{where}: expected 'Input:' and a line 'a+b'")
    if expect(2, "'Target:'") != "Target:" or expect(3, "'<scratch>'") != "<scratch>":
        raise DataFormatError(f"{path}:{start + 3}: expected 'Target:' then '<scratch>'")
    end = start + 4
    while end < len(lines) and lines[end].strip() != "</scratch>":
        end += 1
    written = expect(end - start + 1, "sum line").replace(" ", "")
    a, b = int(operands.group(1)), int(operands.group(2))
    if not written.isdigit() or int(written) != a + b:
        raise DataFormatError(f"{path}:{end + 2}: the sum {written!r} is not {a}+{b}")
    scratch = tuple(line.strip() for line in lines[start + 4 : end])
    return Addition(a, b, scratch, where), end + 2


def longer_additions(digits: int, count: int, seed: int) -> list[Addition]:
    """``count`` problems whose longer operand has ``digits`` digits (for the length test:
    one digit more than training saw); no scratchpad, only the gold sum is needed."""
    rng = random.Random(seed)
    low, high = 10 ** (digits - 1), 10**digits - 1
    problems = []
    for index in range(count):
        a = rng.randint(low, high)
        b = rng.randint(1, high)
        pair = (a, b) if index % 2 == 0 else (b, a)
        problems.append(Addition(*pair, scratch=(), where=f"generated:{seed}:{index}"))
    return problems
