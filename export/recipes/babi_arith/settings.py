"""The recipe's settings: recipe.toml (with its [smoke] overrides) read into typed sections.

Every value is checked; a bad one is reported with the file and the line of its key.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

DEFAULT_CONFIG = Path(__file__).with_name("recipe.toml")
QUANT_SCHEMES = ("int8", "int4")
QUANT_METHODS = ("rtn", "gptq")
STUDENT_INITS = ("pruned", "random")


class SettingsError(ValueError):
    """A recipe file that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class DataSettings:
    validation_fraction: float
    addition_file: str  # relative to the data folder
    stories_per_file: int  # 0: every story of a bAbI file
    addition_examples: int  # 0: every addition example


@dataclass(frozen=True)
class PackingSettings:
    buckets: tuple[int, ...]
    batch_tokens: int


@dataclass(frozen=True)
class TrainingSettings:
    seed: int
    epochs: float
    lr: float
    warmup_steps: int
    weight_decay: float
    grad_clip: float
    checkpoint_every: int
    validate_every: int
    log_every: int
    validation_stories: int


@dataclass(frozen=True)
class DistillationSettings:
    temperature: float
    alpha: float
    init: str  # the student's first weights: "pruned" (cut from the teacher) or "random"
    importance_batches: int  # training batches the teacher runs to rank what to keep


@dataclass(frozen=True)
class ModelSpec:
    """A transformers config (``model_type`` plus its fields) and how to train it."""

    architecture: Mapping[str, Any]
    training: TrainingSettings


@dataclass(frozen=True)
class QuantizeSettings:
    quant: str
    method: str
    calibration_traces: int


@dataclass(frozen=True)
class EvaluationSettings:
    questions_per_task: int  # 0: all
    additions_per_length: int  # 0: all
    self_consistency_samples: int
    max_revisions: int  # the Reasoner's policy; the bundle declares it
    latency_questions: int
    threads: int
    seed: int


@dataclass(frozen=True)
class RecipeSettings:
    data: DataSettings
    packing: PackingSettings
    teacher: ModelSpec
    student: ModelSpec
    distillation: DistillationSettings
    quantize: QuantizeSettings
    evaluation: EvaluationSettings
    max_bundle_bytes: int
    smoke: bool
    source: Path

    def digest(self, sections: tuple[str, ...], *, ignore_run_lengths: bool = False) -> str:
        """A hash of the values in ``sections`` (with ``smoke``): finished stages carry the
        digest of what they depend on, checkpoints that of their training stage, so a resumed
        run with changed settings is refused instead of splicing two runs together, while a
        change downstream (say, the evaluation) keeps the training that came before it.

        Checkpoints hash without the training stages' ``epochs``: a run that will not finish
        in the time there is can be shortened (or one that has not converged lengthened) and
        resume, its cosine schedule following the new length from the checkpoint's step."""
        values = {name: _plain(getattr(self, name)) for name in sections}
        if ignore_run_lengths:
            for role in ("teacher", "student"):
                if role in values:
                    values[role]["training"].pop("epochs")
        text = json.dumps({**values, "smoke": self.smoke}, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    return asdict(value) if is_dataclass(value) else value


def load_settings(path: Path = DEFAULT_CONFIG, *, smoke: bool = False) -> RecipeSettings:
    """Read ``path``; with ``smoke``, apply its [smoke] tables over the others."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"{path}: cannot read the recipe file ({error})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{path}: invalid TOML ({error})") from None
    overrides = raw.pop("smoke", {})
    reader = _Reader(path, text, _merged(raw, overrides, path, text) if smoke else raw)
    teacher_model = reader.table("teacher.model")
    student_model = reader.table("student.model")
    settings = RecipeSettings(
        data=DataSettings(
            validation_fraction=reader.number("data", "validation_fraction", 0.0, 0.5),
            addition_file=reader.text("data", "addition_file"),
            stories_per_file=reader.count("data", "stories_per_file", minimum=0),
            addition_examples=reader.count("data", "addition_examples", minimum=0),
        ),
        packing=PackingSettings(
            buckets=reader.buckets("packing", "buckets"),
            batch_tokens=reader.count("packing", "batch_tokens"),
        ),
        teacher=ModelSpec(
            reader.architecture("teacher.model", teacher_model), reader.training("teacher")
        ),
        student=ModelSpec(
            reader.architecture("student.model", student_model), reader.training("student")
        ),
        distillation=DistillationSettings(
            temperature=reader.number("student.distillation", "temperature", 0.0, math.inf),
            alpha=reader.number("student.distillation", "alpha", 0.0, 1.0, inclusive=True),
            init=reader.choice("student.distillation", "init", STUDENT_INITS),
            importance_batches=reader.count("student.distillation", "importance_batches"),
        ),
        quantize=QuantizeSettings(
            quant=reader.choice("quantize", "quant", QUANT_SCHEMES),
            method=reader.choice("quantize", "method", QUANT_METHODS),
            calibration_traces=reader.count("quantize", "calibration_traces", minimum=2),
        ),
        evaluation=EvaluationSettings(
            questions_per_task=reader.count("evaluation", "questions_per_task", minimum=0),
            additions_per_length=reader.count("evaluation", "additions_per_length", minimum=0),
            self_consistency_samples=reader.count("evaluation", "self_consistency_samples"),
            max_revisions=reader.count("evaluation", "max_revisions", minimum=0),
            latency_questions=reader.count("evaluation", "latency_questions"),
            threads=reader.count("evaluation", "threads"),
            seed=reader.count("evaluation", "seed", minimum=0),
        ),
        max_bundle_bytes=reader.count("bundle", "max_bytes"),
        smoke=smoke,
        source=path,
    )
    longest = max(settings.packing.buckets)
    for role in ("teacher", "student"):
        positions = getattr(settings, role).architecture.get("max_position_embeddings")
        if not isinstance(positions, int) or positions < longest:
            raise SettingsError(
                f"{reader.where(f'{role}.model', 'max_position_embeddings')}: must be an "
                f"integer of at least the longest packing bucket ({longest})"
            )
    return settings


def _merged(base: dict[str, Any], overrides: Any, path: Path, text: str) -> dict[str, Any]:
    """``base`` with the [smoke] tables laid over it; a smoke key must exist in ``base``."""
    if not isinstance(overrides, dict):
        raise SettingsError(f"{path}: [smoke] must be a table")

    def merge(into: dict[str, Any], extra: dict[str, Any], prefix: str) -> dict[str, Any]:
        merged = dict(into)
        for key, value in extra.items():
            name = f"{prefix}.{key}" if prefix else key
            if key not in into:
                line = _line_of(text, f"smoke.{prefix}" if prefix else "smoke", key)
                raise SettingsError(f"{path}:{line}: smoke override {name!r} has no base value")
            if isinstance(value, dict) and isinstance(into[key], dict):
                merged[key] = merge(into[key], value, name)
            else:
                merged[key] = value
        return merged

    return merge(base, overrides, "")


def _line_of(text: str, table: str, key: str) -> int:
    """The line of ``key`` inside ``[table]`` (of the table header if the key is absent)."""
    header = re.compile(rf"^\s*\[\s*{re.escape(table)}\s*\]\s*(#.*)?$")
    assignment = re.compile(rf"^\s*{re.escape(key)}\s*=")
    inside, header_line = table == "", 0
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("["):
            inside = bool(header.match(line))
            header_line = number if inside else header_line
        elif inside and assignment.match(line):
            return number
    return header_line


class _Reader:
    """Typed access to the parsed tables, with errors that point into the file."""

    def __init__(self, path: Path, text: str, raw: dict[str, Any]) -> None:
        self.path, self.lines, self.raw = path, text, raw

    def where(self, table: str, key: str) -> str:
        return f"{self.path}:{_line_of(self.lines, table, key)}: [{table}] {key}"

    def table(self, name: str) -> dict[str, Any]:
        value: Any = self.raw
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
            if not isinstance(value, dict):
                raise SettingsError(f"{self.path}: table [{name}] is missing")
        return value

    def value(self, table: str, key: str) -> Any:
        section = self.table(table)
        if key not in section:
            raise SettingsError(f"{self.where(table, key)}: missing")
        return section[key]

    def count(self, table: str, key: str, *, minimum: int = 1) -> int:
        value = self.value(table, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise SettingsError(
                f"{self.where(table, key)}: must be an integer >= {minimum}, got {value!r}"
            )
        return value

    def number(
        self, table: str, key: str, low: float, high: float, *, inclusive: bool = False
    ) -> float:
        value = self.value(table, key)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        inside = ok and (low <= value <= high if inclusive else low < value < high)
        if not inside:
            bounds = f"[{low}, {high}]" if inclusive else f"({low}, {high})"
            raise SettingsError(f"{self.where(table, key)}: must be a number in {bounds}")
        return float(value)

    def text(self, table: str, key: str) -> str:
        value = self.value(table, key)
        if not isinstance(value, str) or not value:
            raise SettingsError(f"{self.where(table, key)}: must be non-empty text")
        return value

    def choice(self, table: str, key: str, options: tuple[str, ...]) -> str:
        value = self.value(table, key)
        if value not in options:
            raise SettingsError(f"{self.where(table, key)}: must be one of {options}")
        return value

    def buckets(self, table: str, key: str) -> tuple[int, ...]:
        value = self.value(table, key)
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 1 for v in value)
            or sorted(set(value)) != value
        ):
            raise SettingsError(
                f"{self.where(table, key)}: must be increasing integers > 1, got {value!r}"
            )
        return tuple(value)

    def architecture(self, table: str, fields: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(fields.get("model_type"), str):
            raise SettingsError(f"{self.where(table, 'model_type')}: must name a model type")
        if "vocab_size" in fields:
            raise SettingsError(
                f"{self.where(table, 'vocab_size')}: comes from the trained tokenizer; remove it"
            )
        return dict(fields)

    def training(self, role: str) -> TrainingSettings:
        table = f"{role}.training"
        return TrainingSettings(
            seed=self.count(table, "seed", minimum=0),
            epochs=self.number(table, "epochs", 0.0, math.inf),
            lr=self.number(table, "lr", 0.0, 1.0),
            warmup_steps=self.count(table, "warmup_steps", minimum=0),
            weight_decay=self.number(table, "weight_decay", 0.0, 1.0, inclusive=True),
            grad_clip=self.number(table, "grad_clip", 0.0, math.inf),
            checkpoint_every=self.count(table, "checkpoint_every"),
            validate_every=self.count(table, "validate_every"),
            log_every=self.count(table, "log_every"),
            validation_stories=self.count(table, "validation_stories"),
        )
