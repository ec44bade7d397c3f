"""A copy of a GGUF file with some metadata and tensors changed: malformed and edited files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def rewrite(
    src: Path,
    dst: Path,
    *,
    metadata: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    tensors: dict[str, np.ndarray] | None = None,
    arch: str | None = None,
) -> Path:
    """A copy of the GGUF file `src` with metadata values replaced (typed as given; None
    removes the key), tensors dropped, and float32 tensors added or replaced."""
    import gguf

    reader = gguf.GGUFReader(src)
    writer = gguf.GGUFWriter(dst, arch or reader.fields["general.architecture"].contents())
    changes = dict(metadata or {})
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        if key in changes:
            continue
        value_type = field.types[0]
        sub_type = field.types[1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), value_type, sub_type=sub_type)
    for key, value in changes.items():
        if value is None:
            continue
        kind = gguf.GGUFValueType.get_type(value)
        sub_type = gguf.GGUFValueType.get_type(value[0]) if isinstance(value, list) else None
        writer.add_key_value(key, value, kind, sub_type=sub_type)
    replaced = dict(tensors or {})
    for t in reader.tensors:
        if t.name in drop or t.name in replaced:
            continue
        writer.add_tensor(t.name, np.asarray(t.data), raw_dtype=t.tensor_type)
    for name, values in replaced.items():
        writer.add_tensor(name, values.astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return dst
