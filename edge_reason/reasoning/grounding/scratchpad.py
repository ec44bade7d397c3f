"""An addition scratchpad checked against the question, line by line.

The question ``a+b`` fixes the whole scratchpad (the digit-by-digit layout of Lee et al.,
2023, that the shipped model writes with ``;`` between fields)::

    [1,2,3,4] has 4 digits.
    [5,6,7,8] has 4 digits.
    [1,2,3,4] + [5,6,7,8] ; A=[] ; C=0 ; 4+8+0=12 ; A->2 ; C->1
    ...
    [] + [] ; A=[6,9,1,2] C=0 ; END
    #### 6912

so every line is compared with the one the operands give: the first two restate the operands,
each step follows from the one before (the digits left, the answer digits so far, the carry),
and the final answer is the exact sum. Checking a column sum alone (``4+7+0=11``) would pass
a scratchpad that copied the operands wrong; this check cannot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..extract import normalize_answer
from ..verifier import Chain, Finding

_ADDITION = re.compile(r"(?:what\s+is\s+)?(\d+)\s*\+\s*(\d+)\s*[=?]?", re.IGNORECASE)
_ANSWER = re.compile(r"####\s*(?P<value>\S*)")
_SCRATCH_LINE = re.compile(r"^\s*\[[\d,]*\] (?:has|\+)", re.MULTILINE)


@dataclass(frozen=True)
class _Line:
    text: str  # the line as the model writes it
    what: str  # what it states, for a failure's detail


def addition_operands(question: str) -> tuple[int, int] | None:
    """``(a, b)`` when ``question`` asks for ``a+b`` (and nothing else), else None."""
    found = _ADDITION.fullmatch(question.strip())
    return (int(found.group(1)), int(found.group(2))) if found else None


def scratchpad(a: int, b: int, separator: str = " ; ") -> list[_Line]:
    """The scratchpad ``a+b`` gives, without its final ``####`` line."""

    def listed(digits: list[int]) -> str:
        return "[" + ",".join(map(str, digits)) + "]"

    left, right = [int(d) for d in str(a)], [int(d) for d in str(b)]
    lines = [
        _Line(f"{listed(left)} has {len(left)} digits.", f"{a} has the digits {listed(left)}"),
        _Line(f"{listed(right)} has {len(right)} digits.", f"{b} has the digits {listed(right)}"),
    ]
    done: list[int] = []
    carry = 0
    while left or right:
        x, y = (left[-1] if left else 0), (right[-1] if right else 0)
        total = x + y + carry
        fields = [
            f"{listed(left)} + {listed(right)}",
            f"A={listed(done)}",
            f"C={carry}",
            f"{x}+{y}+{carry}={total}",
            f"A->{total % 10}",
            f"C->{total // 10}",
        ]
        step = len(lines) - 1
        lines.append(_Line(separator.join(fields), f"column {step} of {a}+{b} is {fields[3]}"))
        done, carry = [total % 10, *done], total // 10
        left, right = left[:-1], right[:-1]
    end = f"[] + []{separator}A={listed(done)} C={carry}{separator}END"
    lines.append(_Line(end, f"the digits of {a}+{b} are {listed(done)}, carry {carry}"))
    return lines


def check_addition_scratchpad(chain: Chain) -> list[Finding]:
    """Every line of a chain answering ``a+b``: the scratchpad lines, if it writes one, against
    the ones the operands give (a wrong line carries the right one as its repair), and the
    ``####`` answer against the exact sum. Other questions: nothing to check."""
    operands = addition_operands(chain.question)
    if operands is None:
        return []
    a, b = operands
    separator = " , " if " , " in chain.text and " ; " not in chain.text else " ; "
    # a chain without a scratchpad ("3 + 4 = 7", then the answer) is held to its answer
    expected = scratchpad(a, b, separator) if _SCRATCH_LINE.search(chain.text) else []
    findings = []
    start, index = 0, 0
    for line in chain.text.splitlines(keepends=True):
        body = line.strip()
        at = start + len(line) - len(line.lstrip())
        start += len(line)
        if not body:
            continue
        answer = _ANSWER.match(body)
        if answer is not None:
            findings.append(_answer_finding(a, b, answer.group("value"), at + answer.start(1)))
            continue
        span = (at, at + len(body))
        if not expected:
            continue
        if index >= len(expected):
            findings.append(Finding(span, False, f"the scratchpad of {a}+{b} has ended"))
            continue
        want = expected[index]
        index += 1
        if _same(body, want.text):
            findings.append(Finding(span, True, want.what))
        else:
            # the repair ends its line: the model goes on with the next one
            findings.append(Finding(span, False, f"{want.what}, not {body!r}", want.text + "\n"))
    if not any(_ANSWER.match(line.strip()) for line in chain.text.splitlines()):
        end = (len(chain.text), len(chain.text))
        findings.append(Finding(end, False, f"the chain gives no '#### {a + b}' answer"))
    return findings


def _answer_finding(a: int, b: int, written: str, at: int) -> Finding:
    span = (at, at + len(written))
    if normalize_answer(written) == str(a + b):  # "7.0" is 7
        return Finding(span, True, f"{a}+{b} = {a + b}")
    return Finding(span, False, f"{a}+{b} = {a + b}, not {written or 'nothing'}", str(a + b))


def _same(written: str, expected: str) -> bool:
    """Equal up to spacing and the field separator (the data writes ``,``, the model ``;``)."""

    def norm(text: str) -> str:
        return re.sub(r"\s+", "", text).replace(";", ",")

    return norm(written) == norm(expected)
