"""Knowledge distillation of a teacher causal LM into a smaller student with the same tokenizer.

    loss = alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(student, targets)

where _T are next-token distributions softened by temperature T (the T^2 keeps
the soft term's gradients on the scale of the hard one as T grows). With
sequence_level the teacher first writes the traces (greedy, or sampled at
generation_temperature) from the data's prompts, and the student learns those.

Written on `accelerate`, so one command runs on a CPU, a GPU, or several GPUs
through `accelerate launch` unchanged: `steps` counts optimizer steps and each
process draws `batch_size` blocks per step. Checkpoints (model, optimizer,
scheduler, RNG states, step; the data position follows from the step) are
written to a temporary folder and renamed, so an interrupted run resumes from
the last complete one. The result is a Hugging Face folder: config.json,
model.safetensors, the teacher's tokenizer.json and distillation.json
(provenance).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from .distill_data import BlockSchedule, pack, read_records
from .output_folder import output_folder

CHECKPOINTS = "checkpoints"
TRAINER_STATE = "trainer_state.json"
TEACHER_TRACES = "teacher_traces.jsonl"
PROVENANCE = "distillation.json"
# Settings that define a run: a resume with any of them changed would splice two
# different trainings together.
_RUN_DEFINING = (
    "teacher", "student", "data", "steps", "batch_size", "seq_len", "lr", "temperature",
    "alpha", "sequence_level", "generation_temperature", "seed",
)  # fmt: skip


@dataclass(frozen=True)
class DistillSettings:
    teacher: Path  # Hugging Face folder with tokenizer.json
    student: Path  # a config JSON (random init), or a Hugging Face folder
    data: Path  # text or JSONL reasoning traces
    out: Path
    steps: int = 1000
    batch_size: int = 8  # blocks per process per step
    seq_len: int = 256
    lr: float = 3e-4
    temperature: float = 2.0
    alpha: float = 0.5  # weight of the distillation term; 1 - alpha goes to cross-entropy
    sequence_level: bool = False
    generation_temperature: float = 0.0  # teacher sampling for sequence_level; 0 = greedy
    checkpoint_every: int = 100
    seed: int = 0
    resume: bool = False

    def validate(self) -> None:
        for name in ("steps", "batch_size", "seq_len", "checkpoint_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}")
        if not 0 <= self.alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha!r}")
        if not self.generation_temperature >= 0:
            raise ValueError(
                f"generation_temperature must be >= 0, got {self.generation_temperature!r}"
            )

    def identity(self) -> dict[str, Any]:
        """The run-defining settings, as JSON values."""
        raw = asdict(self)
        return {k: str(raw[k]) if isinstance(raw[k], Path) else raw[k] for k in _RUN_DEFINING}


@dataclass(frozen=True)
class StepMetrics:
    step: int  # optimizer steps completed
    loss: float
    kd: float  # T^2-scaled KL(teacher || student), per token
    ce: float  # cross-entropy on the targets, per token
    lr: float


@dataclass
class DistillResult:
    out: Path
    resumed_from: int  # the step the run started at (0: a fresh run)
    history: list[StepMetrics] = field(default_factory=list)  # every step since step 0
    seconds: float = 0.0
    student_parameters: int = 0
    teacher_parameters: int = 0
    is_main_process: bool = True  # False in the other processes of a multi-process run

    def summary(self) -> dict[str, Any]:
        """A JSON-ready digest: the losses at the start and end of the run."""
        window = max(1, len(self.history) // 10)

        def mean_kd(part: list[StepMetrics]) -> float:
            return sum(m.kd for m in part) / len(part)

        return {
            "out": str(self.out),
            "steps": self.history[-1].step if self.history else 0,
            "resumed_from_step": self.resumed_from,
            "seconds": round(self.seconds, 3),
            "student_parameters": self.student_parameters,
            "teacher_parameters": self.teacher_parameters,
            "kd_loss_first": mean_kd(self.history[:window]),
            "kd_loss_last": mean_kd(self.history[-window:]),
            "final": asdict(self.history[-1]) if self.history else None,
        }


def distill(
    settings: DistillSettings,
    *,
    on_step: Callable[[StepMetrics], None] | None = None,
    show_progress: bool = True,
) -> DistillResult:
    """Train the student; return the loss history. on_step sees every step's metrics."""
    settings.validate()
    started = time.perf_counter()
    _check_out_dir(settings)
    with output_folder(settings.out):
        return _train(settings, started, on_step, show_progress)


def _train(
    settings: DistillSettings,
    started: float,
    on_step: Callable[[StepMetrics], None] | None,
    show_progress: bool,
) -> DistillResult:
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm
    from transformers import get_cosine_schedule_with_warmup

    # The schedule is defined per optimizer step, not per process: step it once.
    accelerator = Accelerator(step_scheduler_with_optimizer=False)
    set_seed(settings.seed)
    teacher, tokenizer, eos_id = _load_teacher(settings.teacher)
    student = _load_student(settings.student, teacher, settings.seed)
    records = read_records(settings.data)
    if settings.sequence_level:
        traces = _teacher_traces(teacher, tokenizer, records, eos_id, settings, accelerator)
    else:
        traces = [tokenizer.encode(r.text).ids for r in records]
    blocks = pack(traces, eos_id, settings.seq_len, str(settings.data))
    schedule = BlockSchedule(len(blocks), settings.batch_size, settings.seed)

    optimizer = torch.optim.AdamW(student.parameters(), lr=settings.lr, weight_decay=0.0)
    scheduler = get_cosine_schedule_with_warmup(
        optimizer, max(1, settings.steps // 20), settings.steps
    )
    student, optimizer, scheduler = accelerator.prepare(student, optimizer, scheduler)
    teacher.to(accelerator.device)

    result = DistillResult(
        settings.out,
        resumed_from=0,
        is_main_process=accelerator.is_main_process,
        student_parameters=sum(p.numel() for p in student.parameters()),
        teacher_parameters=sum(p.numel() for p in teacher.parameters()),
    )
    if settings.resume:
        checkpoint = latest_checkpoint(settings.out)
        accelerator.load_state(str(checkpoint))
        state = json.loads((checkpoint / TRAINER_STATE).read_text())
        result.resumed_from = state["step"]
        result.history = [StepMetrics(**m) for m in state["history"]]

    bar = tqdm(
        total=settings.steps,
        initial=result.resumed_from,
        desc="distilling",
        disable=not (show_progress and accelerator.is_main_process),
    )
    student.train()
    for step in range(result.resumed_from, settings.steps):
        index = schedule.batch(step, accelerator.process_index, accelerator.num_processes)
        batch = torch.from_numpy(blocks[index]).to(accelerator.device)
        inputs, targets = batch[:, :-1], batch[:, 1:]
        with torch.no_grad():
            teacher_logits = teacher(inputs).logits
        student_logits = student(inputs).logits
        kd, ce = distillation_losses(student_logits, teacher_logits, targets, settings.temperature)
        loss = settings.alpha * kd + (1 - settings.alpha) * ce
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(student.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()

        loss, kd, ce = accelerator.reduce(torch.stack([loss, kd, ce]).detach(), "mean").tolist()
        metrics = StepMetrics(step + 1, loss, kd, ce, scheduler.get_last_lr()[0])
        result.history.append(metrics)
        bar.update(1)
        bar.set_postfix(kd=f"{kd:.3f}", ce=f"{ce:.3f}")
        if on_step is not None:
            on_step(metrics)
        if metrics.step % settings.checkpoint_every == 0 and metrics.step < settings.steps:
            _save_checkpoint(accelerator, settings, result.history)
    bar.close()

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        _save_student(accelerator.unwrap_model(student), settings, result)
    accelerator.wait_for_everyone()
    result.seconds = time.perf_counter() - started
    return result


def distillation_losses(
    student_logits: Any, teacher_logits: Any, targets: Any, temperature: float
) -> tuple[Any, Any]:
    """(T^2 * KL(teacher_T || student_T), cross-entropy), each a mean over tokens."""
    import torch.nn.functional as F

    vocab = student_logits.shape[-1]
    student_flat = student_logits.reshape(-1, vocab).float()
    teacher_flat = teacher_logits.reshape(-1, vocab).float()
    kl = F.kl_div(
        F.log_softmax(student_flat / temperature, dim=-1),
        F.log_softmax(teacher_flat / temperature, dim=-1),
        log_target=True,
        reduction="batchmean",  # sum over the vocabulary, mean over tokens
    )
    ce = F.cross_entropy(student_flat, targets.reshape(-1))
    return kl * temperature**2, ce


def latest_checkpoint(out: Path) -> Path:
    """The newest complete checkpoint under out/checkpoints (temporary folders never count)."""
    folder = Path(out) / CHECKPOINTS
    done = sorted(folder.glob("step-*[0-9]")) if folder.is_dir() else []
    if not done:
        raise FileNotFoundError(f"{folder}: no checkpoint to resume from")
    return done[-1]


def _check_out_dir(settings: DistillSettings) -> None:
    out = settings.out
    if settings.resume:
        state = json.loads((latest_checkpoint(out) / TRAINER_STATE).read_text())
        changed = {
            k: (v, state["settings"].get(k))
            for k, v in settings.identity().items()
            if v != state["settings"].get(k)
        }
        if changed:
            detail = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (new, old) in changed.items())
            raise ValueError(f"{out}: cannot resume with different settings ({detail})")
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(
            f"{out}: exists and is not an empty folder: pass --resume to continue "
            "the run there, or choose another output folder"
        )


def _load_teacher(folder: Path) -> tuple[Any, Any, int]:
    """(model in eval mode, its tokenizers.Tokenizer, end-of-sequence id)."""
    import torch
    import transformers
    from tokenizers import Tokenizer

    for name in ("config.json", "tokenizer.json"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder}: the teacher folder has no {name}")
    try:
        teacher = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    except (OSError, ValueError) as e:
        raise ValueError(f"{folder}: cannot load the teacher ({e})") from e
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    eos = teacher.config.eos_token_id
    eos_id = eos[0] if isinstance(eos, list) and eos else eos
    if not isinstance(eos_id, int):
        raise ValueError(
            f"{folder / 'config.json'}: no eos_token_id: traces need an end-of-sequence token"
        )
    if tokenizer.get_vocab_size() > teacher.config.vocab_size:
        raise ValueError(
            f"{folder / 'tokenizer.json'}: {tokenizer.get_vocab_size()} tokens, more than the "
            f"model's vocab_size {teacher.config.vocab_size}"
        )
    return teacher.eval().requires_grad_(False), tokenizer, eos_id


def _load_student(spec: Path, teacher: Any, seed: int) -> Any:
    """The student: a Hugging Face folder with weights, else a config initialised at random."""
    import torch
    import transformers

    if spec.is_dir() and any(spec.glob("*.safetensors")):
        student = transformers.AutoModelForCausalLM.from_pretrained(spec, dtype=torch.float32)
        where = spec / "config.json"
    else:
        where = spec / "config.json" if spec.is_dir() else spec
        if not where.is_file():
            raise FileNotFoundError(f"{where}: the student config does not exist")
        try:
            raw = json.loads(where.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{where}: not valid JSON ({e})") from e
        if not isinstance(raw, dict) or not isinstance(raw.get("model_type"), str):
            raise ValueError(f"{where}: a JSON object with a 'model_type' field is needed")
        fields = {k: v for k, v in raw.items() if k != "model_type"}
        try:
            config = transformers.AutoConfig.for_model(raw["model_type"], **fields)
        except (KeyError, ValueError, TypeError) as e:
            raise ValueError(f"{where}: not a usable model config ({e})") from e
        torch.manual_seed(seed)
        student = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    if student.config.vocab_size != teacher.config.vocab_size:
        raise ValueError(
            f"{where}: vocab_size {student.config.vocab_size} differs from the teacher's "
            f"{teacher.config.vocab_size}: the student must use the teacher's tokenizer"
        )
    return student


def _teacher_traces(
    teacher: Any,
    tokenizer: Any,
    records: list[Any],
    eos_id: int,
    settings: DistillSettings,
    accelerator: Any,
) -> list[list[int]]:
    """The teacher's continuations of the data's prompts, written once to out/ and reused."""
    import torch
    from tqdm.auto import tqdm

    path = settings.out / TEACHER_TRACES
    if accelerator.is_main_process and not path.is_file():
        sampled = settings.generation_temperature > 0
        lines = []
        for record in tqdm(records, desc="teacher traces"):
            prompt = tokenizer.encode(record.prompt).ids
            if not prompt:
                continue
            with torch.no_grad():
                ids = teacher.generate(
                    torch.tensor([prompt]),
                    max_new_tokens=settings.seq_len,
                    do_sample=sampled,
                    temperature=settings.generation_temperature if sampled else None,
                    top_k=None,
                    top_p=None,
                    eos_token_id=eos_id,
                    pad_token_id=eos_id,
                )[0].tolist()
            if ids[-1] == eos_id:  # packing adds it back
                ids.pop()
            lines.append(json.dumps({"prompt": record.prompt, "token_ids": ids}))
        _write_atomically(path, ("\n".join(lines) + "\n").encode())
    accelerator.wait_for_everyone()
    with path.open() as f:
        return [json.loads(line)["token_ids"] for line in f if line.strip()]


def _save_checkpoint(
    accelerator: Any, settings: DistillSettings, history: list[StepMetrics]
) -> None:
    step = history[-1].step
    folder = settings.out / CHECKPOINTS
    final = folder / f"step-{step:08d}"
    partial = folder / f"step-{step:08d}.partial"
    if accelerator.is_main_process:
        shutil.rmtree(partial, ignore_errors=True)  # left by a run killed while saving
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()  # every process has written its RNG state
    if accelerator.is_main_process:
        state = {
            "step": step,
            "settings": settings.identity(),
            "history": [asdict(m) for m in history],
        }
        (partial / TRAINER_STATE).write_text(json.dumps(state))
        os.replace(partial, final)
        for older in folder.glob("step-*[0-9]"):  # one complete checkpoint is enough
            if older != final:
                shutil.rmtree(older)
    accelerator.wait_for_everyone()


def _save_student(student: Any, settings: DistillSettings, result: DistillResult) -> None:
    """Write the HF folder beside a temporary one, then move each file into place."""
    staging = settings.out / ".student.partial"
    shutil.rmtree(staging, ignore_errors=True)
    student.save_pretrained(staging, safe_serialization=True)
    shutil.copyfile(settings.teacher / "tokenizer.json", staging / "tokenizer.json")
    provenance = {
        "teacher": {
            "path": str(settings.teacher),
            "config_sha256": _sha256(settings.teacher / "config.json"),
        },
        "data": {"path": str(settings.data), "sha256": _sha256(settings.data)},
        "settings": settings.identity(),
        "result": result.summary(),
        "tools": {name: metadata.version(name) for name in ("torch", "transformers", "accelerate")},
    }
    (staging / PROVENANCE).write_text(json.dumps(provenance, indent=2) + "\n")
    for item in staging.iterdir():
        os.replace(item, settings.out / item.name)
    staging.rmdir()


def _write_atomically(path: Path, content: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(content)
    os.replace(partial, path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
