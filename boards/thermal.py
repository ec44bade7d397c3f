"""Temperatures and Raspberry Pi throttling, where the board exposes them."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .detect import DetectionError

# Bits of `vcgencmd get_throttled` (Raspberry Pi firmware documentation).
_THROTTLE_NOW = {
    0: "under-voltage detected",
    1: "ARM frequency capped",
    2: "currently throttled",
    3: "soft temperature limit active",
}
_THROTTLE_SINCE_BOOT = {
    16: "under-voltage has occurred",
    17: "ARM frequency capping has occurred",
    18: "throttling has occurred",
    19: "soft temperature limit has occurred",
}


@dataclass(frozen=True)
class ThermalZone:
    """One sensor of /sys/class/thermal."""

    name: str  # the zone's `type`, e.g. "cpu-thermal" or "CPU-therm"
    celsius: float


@dataclass(frozen=True)
class Throttling:
    """A decoded `vcgencmd get_throttled` value."""

    raw: int
    now: tuple[str, ...]  # conditions in force at the moment
    since_boot: tuple[str, ...]  # conditions seen at some point since boot


def read_thermal_zones(root: Path) -> list[ThermalZone]:
    """Every readable thermal zone under `root`, in zone order; [] where there are none."""
    zones = []
    folders = (root / "sys/class/thermal").glob("thermal_zone*")
    for folder in sorted(folders, key=lambda p: int(p.name.removeprefix("thermal_zone") or 0)):
        try:
            millidegrees = (folder / "temp").read_text().strip()
        except OSError:
            continue  # some zones refuse reads while their sensor is powered down
        if not re.fullmatch(r"-?\d+", millidegrees):
            raise DetectionError(f"{folder / 'temp'}: not a temperature: {millidegrees!r}")
        kind = folder / "type"
        name = kind.read_text().strip() if kind.is_file() else folder.name
        zones.append(ThermalZone(name=name, celsius=int(millidegrees) / 1000))
    return zones


def decode_throttled(output: str) -> Throttling:
    """Decode the `throttled=0x50005` line that `vcgencmd get_throttled` prints."""
    match = re.fullmatch(r"\s*throttled=(0x[0-9a-fA-F]+|\d+)\s*", output)
    if not match:
        raise DetectionError(f"vcgencmd get_throttled: unexpected output {output!r}")
    raw = int(match.group(1), 0)

    def words(bits: dict[int, str]) -> tuple[str, ...]:
        return tuple(text for bit, text in bits.items() if raw >> bit & 1)

    return Throttling(raw=raw, now=words(_THROTTLE_NOW), since_boot=words(_THROTTLE_SINCE_BOOT))


def run_vcgencmd_get_throttled() -> str | None:
    """The output of `vcgencmd get_throttled`, or None on boards without vcgencmd."""
    program = shutil.which("vcgencmd")
    if program is None:
        return None
    result = subprocess.run(
        [program, "get_throttled"], capture_output=True, text=True, timeout=10, check=False
    )
    if result.returncode != 0:
        raise DetectionError(f"vcgencmd get_throttled failed: {result.stderr.strip()}")
    return result.stdout
