"""What each backend needs from the model the user named, built once and cached.

The model is a Hugging Face folder, a bundle, a GGUF file, or a named shape (a
random-weight model built locally). A GGUF file runs as it is in llama.cpp (quant
"file") and in the native engine (quant "file", or int8/int4/f32 converted at
load). From a Hugging Face folder: torch reads it as it is; the native engine,
onnxruntime and LiteRT run a bundle made by the export pipeline (the native engine
reads the folder itself where the export tools are not installed); llama.cpp runs a
GGUF file from our converter (Q4_0 for int4, Q8_0 for int8, the output head in the
type llama.cpp's quantize tool gives it).
Derived files live in a work folder keyed by the model's content:
${EDGE_REASON_CACHE:-~/.cache/edge-reason}/bench/<hash>. A backend that cannot
run (runtime not installed, quantization it lacks, conversion failed) becomes
a Skipped entry with the reason.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..bundle import Bundle, is_bundle
from ..errors import ModelFormatError
from ..gguf_file import is_gguf
from . import FILE_QUANT, QUANTS
from .runner import Case

GGUF_QUANTS = {"f32": "f32", "int8": "q8_0", "int4": "q4_0"}
# backend -> (alternative sets of modules, all of one set needed; how to install them)
RUNTIMES = {
    "onnxruntime": ([("onnxruntime",)], "pip install onnxruntime"),
    "tflite": ([("ai_edge_litert",), ("tflite_runtime",)], "pip install 'edge-reason[tflite]'"),
    "llama.cpp": ([("llama_cpp", "gguf")], "pip install 'edge-reason[bench]' llama-cpp-python"),
    "torch": ([("torch", "transformers")], "pip install torch transformers"),
}
# backend -> quantizations it has, and why not the others
QUANT_LIMITS = {
    "onnxruntime": (("int8", "int4"), "bundles hold int8 or int4 weights"),
    "tflite": (("int8",), "the TFLite export stores int8 (dynamic-range) weights only"),
    "torch": (("f32", "int8"), "torch eager has f32 and dynamic int8, no int4 CPU path"),
}
BATCH_NATIVE_ONLY = "batched decode is native only"
SPECULATIVE_NATIVE_ONLY = "speculative decoding is native only"
_NOT_GGUF = f"quant {FILE_QUANT!r} is a GGUF file's own types; the model is not a GGUF file"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Skipped:
    """A backend x quantization not measured, or (`batch`, `speculative` set) only those
    of its rows: the batch sizes above 1, the speculative method."""

    backend: str
    quant: str
    reason: str
    batch: tuple[int, ...] = ()
    speculative: str | None = None

    @property
    def label(self) -> str:
        """As messages name it: onnxruntime int4, onnxruntime int4 batch 2,4."""
        extra = f" batch {','.join(map(str, self.batch))}" if self.batch else ""
        extra += f" {self.speculative}" if self.speculative else ""
        return f"{self.backend} {self.quant}{extra}"


@dataclass(frozen=True)
class ModelSource:
    """The model to benchmark: a Hugging Face folder, a bundle or a GGUF file (exactly
    one is set)."""

    hf_dir: Path | None = None
    bundle: Path | None = None
    gguf: Path | None = None

    @property
    def path(self) -> Path:
        path = self.hf_dir or self.bundle or self.gguf
        assert path is not None
        return path


def cache_root() -> Path:
    return Path(os.environ.get("EDGE_REASON_CACHE") or Path.home() / ".cache" / "edge-reason")


def resolve_source(model: Path | None, shape: str | None, progress: Progress) -> ModelSource:
    """The folder or GGUF file the user named, or the random-weight `shape` built under
    the cache."""
    if (model is None) == (shape is None):
        raise ValueError(
            "name a model (a bundle, an HF folder or a GGUF file) or a --shape, not both"
        )
    if shape is not None:
        from ..shapes import write_random_model

        folder = cache_root() / "shapes" / shape
        if not (folder / "config.json").is_file():
            progress(f"building a random-weight {shape} in {folder}")
            write_random_model(shape, folder)
        return ModelSource(hf_dir=folder)
    assert model is not None
    if model.is_file():
        if not is_gguf(model):
            raise ModelFormatError(f"{model}: not a GGUF file (it does not start with 'GGUF')")
        return ModelSource(gguf=model)
    if not model.is_dir():
        raise ModelFormatError(f"{model}: not a bundle, an HF model folder or a GGUF file")
    if is_bundle(model):
        return ModelSource(bundle=model)
    if not (model / "config.json").is_file():
        raise ModelFormatError(f"{model}: neither a bundle (bundle.json) nor an HF folder")
    return ModelSource(hf_dir=model)


def content_hash(model: Path) -> str:
    """A short hash of the files a model is made of (a GGUF file: itself), naming its
    work folder."""
    digest = hashlib.sha256()
    names = ("config.json", "tokenizer.json", "bundle.json")
    files = [model]
    if model.is_dir():
        files = [model / n for n in names if (model / n).is_file()]
        files = sorted(files + list(model.glob("*.safetensors")))
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as f:
            while chunk := f.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def missing_runtime(backend: str) -> str | None:
    """Why `backend` cannot run here, or None if its runtime is installed."""
    if backend not in RUNTIMES:
        return None
    alternatives, install = RUNTIMES[backend]
    if any(all(importlib.util.find_spec(m) for m in modules) for modules in alternatives):
        return None
    needed = " or ".join(" and ".join(modules) for modules in alternatives)
    return f"needs {needed}, not installed here ({install})"


class Preparer:
    """Builds and caches each backend's model files for one source model."""

    def __init__(
        self, source: ModelSource, work: Path, max_context: int, progress: Progress
    ) -> None:
        self.source = source
        self.work = work
        self.max_context = max_context  # the TFLite model's cache is built this long
        self.progress = progress

    def plan(
        self,
        backends: Sequence[str],
        quants: Sequence[str],
        threads: Sequence[int],
        batches: Sequence[int] = (1,),
        speculative: str | None = None,
    ) -> tuple[list[Case], list[Skipped]]:
        """Cases for every backend x quantization that can run, and the rest as Skipped.

        Each runs at batch 1, plainly; the native engine also at every batch size of
        `batches` above 1 and, at batch 1, with `speculative` decoding. Other backends'
        batch sizes above 1 and speculative rows are Skipped (for the backend x quant)."""
        tflite_quants = QUANT_LIMITS["tflite"][0] if "tflite" in backends else ()
        larger = tuple(sorted({b for b in batches if b > 1}))
        cases: list[Case] = []
        skipped: list[Skipped] = []
        for quant in quants:
            for backend in backends:
                try:
                    path = self._model_path(backend, quant, quant in tflite_quants)
                except _Unavailable as e:
                    skipped.append(Skipped(backend, quant, str(e)))
                    continue
                for t in threads:
                    cases.append(Case(backend, quant, t, str(path)))
                    if backend != "native":
                        continue
                    cases += [Case(backend, quant, t, str(path), batch=b) for b in larger]
                    if speculative:
                        cases.append(Case(backend, quant, t, str(path), speculative=speculative))
                if backend != "native" and larger:
                    skipped.append(Skipped(backend, quant, BATCH_NATIVE_ONLY, batch=larger))
                if backend != "native" and speculative:
                    skipped.append(
                        Skipped(backend, quant, SPECULATIVE_NATIVE_ONLY, speculative=speculative)
                    )
        return cases, skipped

    def _model_path(self, backend: str, quant: str, with_tflite: bool) -> Path:
        reason = missing_runtime(backend)
        if reason:
            raise _Unavailable(reason)
        if self.source.gguf is not None:
            return self._from_gguf(backend, quant)
        allowed, why = QUANT_LIMITS.get(backend, (QUANTS, ""))
        if quant not in allowed or quant == FILE_QUANT:
            raise _Unavailable(why if quant != FILE_QUANT else _NOT_GGUF)
        if self.source.bundle is not None:
            return self._from_bundle(backend, quant)
        hf_dir = self.source.path
        if backend == "torch":
            return hf_dir
        if backend == "native":
            # A device runs the bundle: the bytes onnxruntime reads, mapped. Where the
            # export tools are missing (on a device), the folder quantized at load.
            if importlib.util.find_spec("optimum") is None:
                return hf_dir
            with self._failures_skip():
                return self.bundle(quant, with_tflite)
        with self._failures_skip():
            if backend == "llama.cpp":
                return self.gguf(quant)
            return self.bundle(quant, with_tflite)

    def _from_gguf(self, backend: str, quant: str) -> Path:
        gguf = self.source.path
        if backend == "llama.cpp" and quant != FILE_QUANT:
            raise _Unavailable(f"llama.cpp runs the GGUF file as it is: quant {FILE_QUANT!r}")
        if backend not in ("native", "llama.cpp"):
            raise _Unavailable(
                f"needs a bundle or the HF folder; `edge-reason export {gguf.name} OUT` "
                "makes a bundle"
            )
        return gguf

    def _from_bundle(self, backend: str, quant: str) -> Path:
        bundle = self.source.path
        if backend in ("llama.cpp", "torch"):
            raise _Unavailable(f"needs the Hugging Face folder; {bundle} is a bundle")
        if quant != self._bundle_quant:
            raise _Unavailable(f"{bundle} is an {self._bundle_quant} bundle")
        if backend == "tflite" and not (bundle / "model.tflite").is_file():
            raise _Unavailable(f"{bundle} has no model.tflite (export it with --tflite)")
        return bundle

    @functools.cached_property
    def _bundle_quant(self) -> str:
        return Bundle.open(self.source.path, None).quant

    @contextmanager
    def _failures_skip(self) -> Iterator[None]:
        # A baseline whose conversion fails is reported, not fatal: the other
        # backends' numbers are still worth having.
        try:
            yield
        except Exception as e:
            raise _Unavailable(f"preparing its model failed: {type(e).__name__}: {e}") from e

    def gguf(self, quant: str) -> Path:
        """The model as a GGUF file in llama.cpp's type for `quant`."""
        from ..export.gguf_export import write_gguf

        # named for the recipe: files from before the head followed llama-quantize differ
        path = self.work / f"model-{GGUF_QUANTS[quant]}-llama-quantize.gguf"
        if not path.is_file():
            self.progress(f"converting to GGUF {GGUF_QUANTS[quant].upper()}: {path}")
            summary = write_gguf(self.source.path, path, GGUF_QUANTS[quant])
            if summary.f16_fallbacks:
                self.progress(
                    f"  kept at F16 (rows not a multiple of 32): {', '.join(summary.f16_fallbacks)}"
                )
        return path

    def bundle(self, quant: str, with_tflite: bool) -> Path:
        """An exported bundle for `quant` (with model.tflite when `with_tflite`)."""
        from ..export.pipeline import ExportRequest, export_bundle

        folder = self.work / f"bundle-{quant}-ctx{self.max_context}"
        ready = (folder / "bundle.json").is_file()
        if ready and (not with_tflite or (folder / "model.tflite").is_file()):
            return folder
        extra = None
        if with_tflite:
            from ..export.tflite_export import add_tflite

            extra = functools.partial(
                add_tflite, hf_dir=self.source.path, max_context=self.max_context
            )
        self.progress(f"exporting an {quant} bundle (this takes a while): {folder}")
        # rtn without a calibration file: a benchmark model's quality report means nothing
        request = ExportRequest(self.source.path, folder, quant, "rtn", None, force=ready)
        export_bundle(request, progress=self._export_step, extra_files=extra)
        return folder

    @contextmanager
    def _export_step(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        self.progress(f"  export: {label}")
        yield lambda _n: None


class _Unavailable(Exception):
    """A backend x quantization that cannot run; the message says why."""
