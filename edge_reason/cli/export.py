"""`edge-reason export` (a model folder or a GGUF file -> a bundle) and `edge-reason keygen`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .errors import api_errors
from .numbers import readable
from .options import json_flag
from .progress import progress_bar


def _tflite_hook(hf_dir: Path) -> Callable[[Path], dict[str, Any] | None]:
    try:
        from ..export.tflite_export import add_tflite
    except ImportError as e:
        raise click.ClickException(
            f"--tflite needs the TFLite exporter and its packages ({e}); "
            "install them with: pip install 'edge-reason[tflite]'"
        ) from e
    from ..engine import DEFAULT_MAX_CONTEXT
    from ..model_config import ModelConfig

    # the same default context as Engine.load, so the TFLite KV cache fits it
    context = min(ModelConfig.from_folder(hf_dir).max_position_embeddings, DEFAULT_MAX_CONTEXT)
    return lambda bundle_dir: add_tflite(bundle_dir, hf_dir, max_context=context)


@click.command("export")
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--quant", type=click.Choice(["int8", "int4"]), required=True)
@click.option(
    "--method",
    type=click.Choice(["rtn", "gptq"]),
    default="rtn",
    show_default=True,
    help="rtn: round to nearest; gptq: calibration-aware (uses --calibration).",
)
@click.option("--block-size", type=int, default=32, show_default=True)
@click.option(
    "--calibration",
    type=click.Path(path_type=Path),
    help="Reasoning traces, one per line: GPTQ calibrates on them; a held-out tenth "
    "measures the quality report. Needed by gptq; rtn measures on a built-in text without it.",
)
@click.option("--tflite", is_flag=True, help="Also write model.tflite (LiteRT).")
@click.option("--sign", "sign_key", type=click.Path(path_type=Path), help="Ed25519 key (PEM).")
@click.option("--teacher", help="Distillation teacher to record in the provenance.")
@click.option("--force", is_flag=True, help="Replace an earlier bundle in OUT_DIR.")
@json_flag("Print the manifest as JSON.")
def export(
    source: Path,
    out_dir: Path,
    quant: str,
    method: str,
    block_size: int,
    calibration: Path | None,
    tflite: bool,
    sign_key: Path | None,
    teacher: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Quantize the model in SOURCE (a Hugging Face folder or a GGUF file) and write a
    bundle to OUT_DIR."""
    from ..bench.quiet import quiet_third_party

    quiet_third_party()
    from ..export.gguf_import import hf_folder_for
    from ..export.pipeline import ExportRequest, export_bundle

    with api_errors():
        with hf_folder_for(source, out_dir, force=force) as (hf_dir, origin):
            request = ExportRequest(
                hf_dir, out_dir, quant, method, calibration, block_size, force, sign_key,
                teacher, source=origin,
            )  # fmt: skip
            extra = _tflite_hook(hf_dir) if tflite else None
            manifest = export_bundle(request, progress=progress_bar, extra_files=extra)
    if as_json:
        click.echo(json.dumps(manifest))
        return
    click.echo(
        f"wrote {out_dir} ({quant}, {method}); quality measured on {manifest['quality']['text']}"
    )
    for name, q in manifest["quality"]["variants"].items():
        click.echo(
            f"  {name:<16} KL {readable(q['mean_kl'])}  top-1 {q['top1_agreement']:.2%}  "
            f"perplexity {readable(q['perplexity'])} (f32 {readable(q['perplexity_f32'])})"
        )


@click.command("keygen")
@click.argument("key", type=click.Path(path_type=Path))
def keygen(key: Path) -> None:
    """Write a new Ed25519 signing key to KEY and its public key to KEY.pub."""
    from ..export.signing import generate_key

    with api_errors():
        public = generate_key(key)
    click.echo(f"private key: {key} (keep it secret)\npublic key:  {public}")
