"""The recipe's stages, run in order in a work folder, each finished by a ``stage.json``.

    prepare -> tokenizer -> teacher -> student -> quantize -> evaluate -> bundle

A stage writes into ``WORK/<stage>/`` and, last, ``stage.json`` (its summary, how long it
took and the settings digest). A finished stage is skipped with ``resume`` and refused
without it (the work folder belongs to an earlier run); an unfinished one is continued with
``resume`` (training from its last checkpoint) and refused without it. The evaluation comes
before the bundle because the bundle's manifest carries the evaluation report.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .checkpoint import latest_checkpoint
from .documents import Document, read_documents
from .settings import ModelSpec, RecipeSettings

STAGES = ("prepare", "tokenizer", "teacher", "student", "quantize", "evaluate", "bundle")
# the settings each stage adds to those of the stages before it (its digest covers them all)
_STAGE_SETTINGS = {
    "prepare": ("data",),
    "tokenizer": (),
    "teacher": ("packing", "teacher"),
    "student": ("student", "distillation"),
    "quantize": ("quantize",),
    "evaluate": ("evaluation",),
    "bundle": ("max_bundle_bytes",),
}
STAGE_FILE = "stage.json"
TOKENIZER_FILE = "tokenizer.json"
CALIBRATION_FILE = "calibration.txt"
QUANTIZED = "model"  # the exported bundle inside the quantize and bundle stage folders
REPORT = "report.json"


class StageError(RuntimeError):
    """A stage that cannot run in this work folder (finished, unfinished, or out of order)."""


@dataclass(frozen=True)
class Recipe:
    work: Path
    data_root: Path
    settings: RecipeSettings
    progress: bool = True

    def folder(self, stage: str) -> Path:
        return self.work / stage

    def digest(self, stage: str, *, ignore_run_lengths: bool = False) -> str:
        """The digest of the settings ``stage`` and the stages before it depend on."""
        upto = STAGES[: STAGES.index(stage) + 1]
        sections = tuple(name for done in upto for name in _STAGE_SETTINGS[done])
        return self.settings.digest(sections, ignore_run_lengths=ignore_run_lengths)

    def finished(self, stage: str) -> dict[str, Any] | None:
        """The stage's summary if it has finished (with these settings), else None."""
        path = self.folder(stage) / STAGE_FILE
        if not path.is_file():
            return None
        summary = json.loads(path.read_text())
        if summary.get("digest") != self.digest(stage):
            raise StageError(
                f"{path}: finished with other settings (digest {summary.get('digest')}, now "
                f"{self.digest(stage)}): use a new --work folder, or the same recipe file "
                "and --smoke choice"
            )
        return summary


def run_recipe(recipe: Recipe, *, stage: str | None, resume: bool) -> dict[str, Any]:
    """Run every stage (or only ``stage``); return each stage's summary."""
    if stage is not None and stage not in STAGES:
        raise StageError(f"unknown stage {stage!r} (stages: {', '.join(STAGES)})")
    selected = STAGES if stage is None else (stage,)
    if stage is not None:
        for earlier in STAGES[: STAGES.index(stage)]:
            if recipe.finished(earlier) is None:
                raise StageError(f"{recipe.folder(earlier)}: stage {earlier!r} must finish first")
    summaries = {}
    for name in selected:
        done = recipe.finished(name)
        folder = recipe.folder(name)
        if done is not None and not resume:
            raise StageError(
                f"{folder}: stage {name!r} has already finished: pass --resume to skip "
                "finished stages, or choose a new --work folder"
            )
        if done is None and folder.is_dir() and any(folder.iterdir()) and not resume:
            raise StageError(
                f"{folder}: an unfinished {name!r} stage is there: pass --resume to "
                "continue it, or choose a new --work folder"
            )
        summaries[name] = done if done is not None else _run_stage(recipe, name, resume)
    return summaries


def _run_stage(recipe: Recipe, name: str, resume: bool) -> dict[str, Any]:
    folder = recipe.folder(name)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    result = _STAGE_FUNCTIONS[name](recipe, resume)
    summary = {
        "stage": name,
        "digest": recipe.digest(name),
        "smoke": recipe.settings.smoke,
        "seconds": round(time.perf_counter() - started, 1),
        "result": result,
    }
    _write_json(folder / STAGE_FILE, summary)
    return summary


# ---- stages ------------------------------------------------------------------------------


def _prepare(recipe: Recipe, resume: bool) -> dict[str, Any]:
    from .split import split_data, write_split

    split = split_data(recipe.data_root, recipe.settings.data)
    write_split(split, recipe.folder("prepare"))
    return {"data": str(recipe.data_root), **split.manifest["documents"]}


def _tokenizer(recipe: Recipe, resume: bool) -> dict[str, Any]:
    from .tokenizer import train_tokenizer

    texts = (s.text for d in _documents(recipe, "train") for s in d.segments)
    vocabulary = train_tokenizer(texts, recipe.folder("tokenizer") / TOKENIZER_FILE)
    return {"vocab_size": vocabulary}


def _teacher(recipe: Recipe, resume: bool) -> dict[str, Any]:
    from .objectives import CrossEntropy
    from .training import train

    spec = recipe.settings.teacher
    model = _new_model(recipe, spec)
    return train(
        _job(recipe, "teacher", spec, model, CrossEntropy()),
        resume=resume,
        progress=recipe.progress,
    )


def _student(recipe: Recipe, resume: bool) -> dict[str, Any]:
    from .objectives import Distillation
    from .training import train

    spec, distillation = recipe.settings.student, recipe.settings.distillation
    teacher = _load_model(recipe.folder("teacher") / "model")
    objective = Distillation(teacher, distillation.temperature, distillation.alpha)
    job = _job(recipe, "student", spec, _new_model(recipe, spec), objective)
    # a resumed run takes its weights from the checkpoint: no cut to make
    if distillation.init == "pruned" and latest_checkpoint(job.folder) is None:
        job = replace(job, model=_pruned_student(recipe, job, teacher))
    summary = train(job, resume=resume, progress=recipe.progress)
    return {
        **summary,
        "init": distillation.init,
        "teacher_parameters": sum(p.numel() for p in teacher.parameters()),
    }


def _quantize(recipe: Recipe, resume: bool) -> dict[str, Any]:
    from ...pipeline import ExportRequest, export_bundle

    settings = recipe.settings.quantize
    folder = recipe.folder("quantize")
    calibration = folder / CALIBRATION_FILE
    traces = _calibration_traces(list(_documents(recipe, "train")), settings.calibration_traces)
    calibration.write_text("".join(t + "\n" for t in traces), encoding="utf-8")
    request = ExportRequest(
        hf_dir=recipe.folder("student") / "model",
        out_dir=folder / QUANTIZED,
        quant=settings.quant,
        method=settings.method,
        calibration=calibration,
        force=resume,  # a resumed stage replaces the bundle an interrupted export left
        teacher="babi_arith recipe teacher (distilled)",
    )
    manifest = export_bundle(request, progress=_progress(recipe))
    return {"bundle": str(request.out_dir), "quality": manifest["quality"]}


def _evaluate(recipe: Recipe, resume: bool) -> dict[str, Any]:
    from .evaluation import evaluate_models
    from .split import MANIFEST, VALIDATION_PROBLEMS

    prepared = recipe.folder("prepare")
    manifest = json.loads((prepared / MANIFEST).read_text())
    models = {
        "teacher_f32": recipe.folder("teacher") / "model",
        "student_f32": recipe.folder("student") / "model",
        _shipped_name(recipe): recipe.folder("quantize") / QUANTIZED,
    }
    report = evaluate_models(
        models,
        prepared / VALIDATION_PROBLEMS,
        recipe.settings.evaluation,
        training_digits=manifest["addition"]["training_digits"],
        progress=recipe.progress,
    )
    _write_json(recipe.folder("evaluate") / REPORT, report)
    return {"report": str(recipe.folder("evaluate") / REPORT), "summary": report["summary"]}


def _shipped_name(recipe: Recipe) -> str:
    """The quantized student's name in the evaluation report."""
    return f"student_{recipe.settings.quantize.quant}"


def _bundle(recipe: Recipe, resume: bool) -> dict[str, Any]:
    from edge_reason.bundle import Bundle
    from edge_reason.bundle_manifest import MANIFEST_NAME
    from edge_reason.engine import Engine
    from edge_reason.reasoning.calibration import MANIFEST_KEY

    from .documents import trained_formats
    from .evaluation import best_strategy
    from .split import MANIFEST

    folder = recipe.folder("bundle")
    final, staging = folder / QUANTIZED, folder / f".{QUANTIZED}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(recipe.folder("quantize") / QUANTIZED, staging)
    manifest = json.loads((staging / MANIFEST_NAME).read_text())
    report = json.loads((recipe.folder("evaluate") / REPORT).read_text())
    manifest["quality"]["evaluation"] = report
    shipped = report["models"][_shipped_name(recipe)]
    manifest[MANIFEST_KEY] = shipped["confidence_calibration"]["manifest"]
    # the Reasoner asks the model exactly as it was trained, whatever its built-ins become
    manifest["prompt_formats"] = [f.to_dict() for f in trained_formats().values()]
    # with the policy it was measured with, and by default in the way that measured best
    manifest["reasoning"] = {
        "max_revisions": recipe.settings.evaluation.max_revisions,
        "best_strategy": best_strategy(report, _shipped_name(recipe)),
    }
    manifest["recipe"] = {
        "name": "babi_arith",
        "settings_digest": recipe.digest("bundle"),
        "smoke": recipe.settings.smoke,
        "split": json.loads((recipe.folder("prepare") / MANIFEST).read_text()),
        "stages": {name: recipe.finished(name) for name in STAGES[:-1]},
    }
    _write_json(staging / MANIFEST_NAME, manifest)
    size = sum(p.stat().st_size for p in staging.rglob("*") if p.is_file())
    if size > recipe.settings.max_bundle_bytes:
        raise StageError(
            f"{staging}: the bundle has {size} bytes, more than the "
            f"{recipe.settings.max_bundle_bytes} allowed to ship in the wheel"
        )
    Bundle.open(staging)  # checksums
    engine = Engine.load(staging, threads=recipe.settings.evaluation.threads)
    probe = engine.generate("1 Mary moved to the bathroom.\nWhere is Mary?\n", max_new_tokens=8)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(staging, final)
    return {"bundle": str(final), "bytes": size, "probe_output": probe.text}


_STAGE_FUNCTIONS: dict[str, Callable[[Recipe, bool], dict[str, Any]]] = {
    "prepare": _prepare,
    "tokenizer": _tokenizer,
    "teacher": _teacher,
    "student": _student,
    "quantize": _quantize,
    "evaluate": _evaluate,
    "bundle": _bundle,
}


# ---- pieces ------------------------------------------------------------------------------


def _documents(recipe: Recipe, split: str) -> Iterator[Document]:
    from .split import TRAIN_DOCUMENTS, VALIDATION_DOCUMENTS

    name = TRAIN_DOCUMENTS if split == "train" else VALIDATION_DOCUMENTS
    return read_documents(recipe.folder("prepare") / name)


def _job(recipe: Recipe, role: str, spec: ModelSpec, model: Any, objective: Any) -> Any:
    from .packing import BatchSchedule, encode_document, pack
    from .tokenizer import EOS, load_tokenizer
    from .training import TrainingJob
    from .validation import ValidationCurve

    tokenizer_file = recipe.folder("tokenizer") / TOKENIZER_FILE
    tokenizer = load_tokenizer(tokenizer_file)
    eos = tokenizer.token_to_id(EOS)
    buckets = recipe.settings.packing.buckets
    train = [encode_document(d, tokenizer, eos) for d in _documents(recipe, "train")]
    shown: dict[str, int] = {}
    curve_documents = []
    for document in _documents(recipe, "validation"):
        shown[document.task] = shown.get(document.task, 0) + 1
        if shown[document.task] <= spec.training.validation_stories:
            curve_documents.append(encode_document(document, tokenizer, eos))
    return TrainingJob(
        folder=recipe.folder(role),
        model=model,
        objective=objective,
        schedule=BatchSchedule(
            pack(train, buckets), recipe.settings.packing.batch_tokens, spec.training.seed
        ),
        settings=spec.training,
        batch_tokens=recipe.settings.packing.batch_tokens,
        digest=recipe.digest(role, ignore_run_lengths=True),
        curve=ValidationCurve(curve_documents, buckets),
        tokenizer_file=tokenizer_file,
    )


def _pruned_student(recipe: Recipe, job: Any, teacher: Any) -> Any:
    """The student cut from the teacher (export/prune.py), ranked on the first
    ``importance_batches`` batches the student will train on."""
    from ...prune import PruneError, measure_importance, prune
    from .packing import make_batch

    count = min(recipe.settings.distillation.importance_batches, job.schedule.per_epoch)
    batches = (make_batch(*job.schedule.batch(step)) for step in range(count))
    importance = measure_importance(teacher, ((b.model_inputs(), b.real) for b in batches))
    try:
        return prune(teacher, job.model.config, importance)
    except PruneError as error:
        where = recipe.settings.source
        raise StageError(
            f"{where}: [student.model] cannot be cut from the teacher ({error})"
        ) from None


def _new_model(recipe: Recipe, spec: ModelSpec) -> Any:
    """A randomly initialised model of ``spec``'s architecture and the tokenizer's vocabulary."""
    import torch
    import transformers

    from .tokenizer import EOS, PAD, load_tokenizer

    tokenizer = load_tokenizer(recipe.folder("tokenizer") / TOKENIZER_FILE)
    fields = dict(spec.architecture)
    model_type = fields.pop("model_type")
    try:
        config = transformers.AutoConfig.for_model(
            model_type,
            vocab_size=tokenizer.get_vocab_size(),
            eos_token_id=tokenizer.token_to_id(EOS),
            pad_token_id=tokenizer.token_to_id(PAD),
            bos_token_id=None,  # prompts start with the story, as the engine encodes them
            **fields,
        )
    except (KeyError, ValueError, TypeError) as error:
        where = recipe.settings.source
        raise StageError(f"{where}: not a usable {model_type} config ({error})") from None
    torch.manual_seed(spec.training.seed)
    return transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)


def _load_model(folder: Path) -> Any:
    import torch
    import transformers

    return transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)


def _calibration_traces(documents: list[Document], count: int) -> list[str]:
    """``count`` training documents spread evenly over the split (every task and the
    addition examples), each as one line: the calibration file holds a trace per line."""
    stride = max(1, math.floor(len(documents) / count))
    chosen = documents[::stride][:count]
    return [" ".join("".join(s.text for s in d.segments).split()) for d in chosen]


def _progress(recipe: Recipe) -> Any:
    """The export pipeline's progress callback: a tqdm bar per step, or nothing."""
    from contextlib import contextmanager

    from tqdm.auto import tqdm

    @contextmanager
    def step(label: str, total: int) -> Iterator[Callable[[int], None]]:
        with tqdm(total=total, desc=label, disable=not recipe.progress) as bar:
            yield bar.update

    return step


def _write_json(path: Path, value: Any) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(value, indent=1) + "\n", encoding="utf-8")
    os.replace(partial, path)
