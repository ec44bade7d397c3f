"""Rule-based fallbacks: declarative rule packs that answer without a model.

    >>> from edge_reason.heuristics import load_builtin
    >>> load_builtin("arithmetic").answer_question("What is 17*23 + 4?").answer
    '395'

A pack (TOML) declares inputs, facts and relations, rules (conditions, forward chaining,
priorities), question forms and examples; see README.md in this folder for how to write one.
"""

from __future__ import annotations

from .errors import (
    BudgetError,
    ChainingError,
    ExpressionError,
    InputError,
    PackError,
    RuleError,
)
from .evaluator import calculate
from .pack import RulePack, builtin_names, load_builtin
from .results import Conclusion, Evaluation, ExampleResult, RuleAnswer
from .values import format_value

__all__ = [
    "BudgetError",
    "ChainingError",
    "Conclusion",
    "Evaluation",
    "ExampleResult",
    "ExpressionError",
    "InputError",
    "PackError",
    "RuleAnswer",
    "RuleError",
    "RulePack",
    "builtin_names",
    "calculate",
    "format_value",
    "load_builtin",
]
