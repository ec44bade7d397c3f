"""Board profiles: one TOML file per board in `profiles/`, validated when loaded."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EdgeReasonError
from .kernels import FEATURES_BY_ARCH, KERNEL_VARIANTS
from .memory import BYTES_PER_PARAM, KV_BYTES_PER_VALUE, largest_params

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"


class ProfileError(EdgeReasonError, ValueError):
    """A board profile file that is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class SizingShape:
    """The model layout a board's 'largest model' figures are computed for."""

    reference: str  # which architecture the layout is taken from
    context: int
    layers: int
    kv_dim: int


@dataclass(frozen=True)
class BoardProfile:
    """What edge-reason knows about one board, as stated in its profile file."""

    name: str
    description: str
    arch: str  # platform.machine() on the board
    device_tree_models: tuple[str, ...]  # prefixes of /proc/device-tree/model
    cpu_model: str
    tune: str  # the -mtune name of the CPU
    cores: int
    features: frozenset[str]
    ram_mb: int
    bandwidth_gbps: float
    bandwidth_source: str
    headroom_mb: int
    headroom_reason: str
    decode_threads: int
    prefill_threads: int
    default_quant: str
    kv_cache: str
    sizing: SizingShape
    source: Path

    @property
    def compiler_flags(self) -> dict[str, tuple[str, ...]]:
        """Flags per kernel source file for the variants this board's CPU can run."""
        return {
            v.source: v.flags + (f"-mtune={self.tune}",)
            for v in KERNEL_VARIANTS
            if v.requires <= self.features
        }

    def largest_params(self, quant: str) -> int:
        """The most parameters that fit at `quant` with the sizing layout and context."""
        s = self.sizing
        return largest_params(self, quant, s.context, s.layers, s.kv_dim)


class _Fields:
    """Typed reads of a parsed TOML document that name the file and line on error."""

    def __init__(self, path: Path, text: str, data: dict[str, Any]) -> None:
        self.path, self._lines, self._data = path, text.splitlines(), data

    def fail(self, table: str, key: str, message: str) -> ProfileError:
        line = self._line_of(table, key)
        where = f"{self.path}:{line}" if line else str(self.path)
        field = f"[{table}].{key}" if table else key
        return ProfileError(f"{where}: {field} {message}")

    def _line_of(self, table: str, key: str) -> int | None:
        current = ""
        for number, line in enumerate(self._lines, 1):
            header = re.match(r"\s*\[([^\]]+)\]", line)
            if header:
                current = header.group(1).strip()
            elif current == table and re.match(rf"\s*{re.escape(key)}\s*=", line):
                return number
        return None

    def table(self, table: str) -> dict[str, Any]:
        value = self._data.get(table) if table else self._data
        if not isinstance(value, dict):
            raise ProfileError(f"{self.path}: missing table [{table}]")
        return value

    def check_keys(self, table: str, allowed: set[str]) -> None:
        for key in self.table(table):
            if key not in allowed:
                raise self.fail(
                    table, key, f"is not a known field (known: {', '.join(sorted(allowed))})"
                )

    def get(self, table: str, key: str, kind: type | tuple[type, ...], what: str) -> Any:
        if key not in self.table(table):
            raise self.fail(table, key, "is missing")
        value = self.table(table)[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise self.fail(table, key, f"must be {what}, got {value!r}")
        return value

    def text(self, table: str, key: str) -> str:
        value = self.get(table, key, str, "a non-empty string")
        if not value.strip():
            raise self.fail(table, key, "must be a non-empty string")
        return value

    def positive(self, table: str, key: str, kind: type | tuple[type, ...] = int) -> Any:
        value = self.get(table, key, kind, "a positive number")
        if value <= 0:
            raise self.fail(table, key, f"must be a positive number, got {value!r}")
        return value

    def choice(self, table: str, key: str, allowed: set[str]) -> str:
        value = self.get(table, key, str, "a string")
        if value not in allowed:
            raise self.fail(
                table, key, f"must be one of {', '.join(sorted(allowed))}, got {value!r}"
            )
        return value

    def strings(self, table: str, key: str) -> tuple[str, ...]:
        value = self.get(table, key, list, "a list of strings")
        if not all(isinstance(item, str) and item for item in value):
            raise self.fail(table, key, f"must be a list of non-empty strings, got {value!r}")
        return tuple(value)


_SCHEMA = {
    "": {"name", "description", "arch", "device_tree_models", "cpu", "memory", "threads"}
    | {"inference", "sizing"},
    "cpu": {"model", "tune", "cores", "features"},
    "memory": {"ram_mb", "bandwidth_gbps", "bandwidth_source", "headroom_mb", "headroom_reason"},
    "threads": {"decode", "prefill"},
    "inference": {"default_quant", "kv_cache"},
    "sizing": {"reference", "context", "layers", "kv_dim"},
}


def load_profile_file(path: Path) -> BoardProfile:
    """Parse and validate one profile file; ProfileError names the file, line and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except OSError as e:
        raise ProfileError(f"{path}: cannot read board profile: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ProfileError(f"{path}: not valid TOML: {e}") from None
    f = _Fields(path, text, data)
    for table, allowed in _SCHEMA.items():
        f.check_keys(table, allowed)

    name = f.text("", "name")
    if name != path.stem:
        raise f.fail("", "name", f"must match the file name {path.stem!r}, got {name!r}")
    arch = f.choice("", "arch", set(FEATURES_BY_ARCH))
    features = frozenset(f.strings("cpu", "features"))
    if not features <= FEATURES_BY_ARCH[arch]:
        unknown = ", ".join(sorted(features - FEATURES_BY_ARCH[arch]))
        raise f.fail("cpu", "features", f"has features that {arch} does not know: {unknown}")
    cores = f.positive("cpu", "cores")
    ram_mb = f.positive("memory", "ram_mb")
    headroom_mb = f.positive("memory", "headroom_mb")
    if headroom_mb >= ram_mb:
        raise f.fail(
            "memory", "headroom_mb", f"must be less than ram_mb ({ram_mb}), got {headroom_mb}"
        )
    threads = {}
    for kind in ("decode", "prefill"):
        threads[kind] = f.positive("threads", kind)
        if threads[kind] > cores:
            raise f.fail("threads", kind, f"must be at most the {cores} cores, got {threads[kind]}")

    profile = BoardProfile(
        name=name,
        description=f.text("", "description"),
        arch=arch,
        device_tree_models=f.strings("", "device_tree_models"),
        cpu_model=f.text("cpu", "model"),
        tune=f.text("cpu", "tune"),
        cores=cores,
        features=features,
        ram_mb=ram_mb,
        bandwidth_gbps=float(f.positive("memory", "bandwidth_gbps", (int, float))),
        bandwidth_source=f.text("memory", "bandwidth_source"),
        headroom_mb=headroom_mb,
        headroom_reason=f.text("memory", "headroom_reason"),
        decode_threads=threads["decode"],
        prefill_threads=threads["prefill"],
        default_quant=f.choice("inference", "default_quant", set(BYTES_PER_PARAM)),
        kv_cache=f.choice("inference", "kv_cache", set(KV_BYTES_PER_VALUE)),
        sizing=SizingShape(
            reference=f.text("sizing", "reference"),
            context=f.positive("sizing", "context"),
            layers=f.positive("sizing", "layers"),
            kv_dim=f.positive("sizing", "kv_dim"),
        ),
        source=path,
    )
    if profile.largest_params(profile.default_quant) == 0:
        raise f.fail(
            "sizing", "context", "leaves no RAM for weights: its KV cache alone is too big"
        )
    return profile


def load_profiles(folder: Path = PROFILES_DIR) -> dict[str, BoardProfile]:
    """Every profile in `folder`, by name."""
    paths = sorted(Path(folder).glob("*.toml"))
    if not paths:
        raise ProfileError(f"{folder}: no board profiles (*.toml) found")
    return {p.name: p for p in map(load_profile_file, paths)}


def load_profile(name: str, folder: Path = PROFILES_DIR) -> BoardProfile:
    """The profile called `name`; ProfileError listing the known boards otherwise."""
    path = Path(folder) / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in Path(folder).glob("*.toml")))
        raise ProfileError(f"unknown board {name!r} (known: {known})")
    return load_profile_file(path)
