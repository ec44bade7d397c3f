#!/usr/bin/env bash
# Build an installable aarch64 wheel of edge-reason on this x86_64 host: the
# file you copy to a Raspberry Pi or a Jetson and install with pip.
#
#   bash boards/build-aarch64-wheel.sh [OUTPUT_DIR]     (default: dist/)
#
# It writes edge_reason-<version>-cp311-cp311-linux_aarch64.whl, built by
# scikit-build-core with the aarch64 toolchain file against Debian's arm64
# CPython 3.11 headers, then installs the wheel into a scratch folder and
# imports it under emulated Python on a Cortex-A72 and on a CPU with i8mm,
# checking the kernel each one selects. The platform tag is linux_aarch64,
# not manylinux: the module links against the cross toolchain's glibc and
# libstdc++ (Debian bookworm's), and the script prints the newest symbol
# versions it needs, which the target's libraries must provide.
#
# Needs what boards/cross-test.sh needs, plus scikit-build-core on the host
# python3.11 (pip builds without isolation, so it downloads no build tools).
set -euo pipefail
# shellcheck source=aarch64-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/aarch64-env.sh"

out=$(realpath -m "${1:-$AARCH64_ROOT/dist}")
aarch64_require_tools
python3 -c 'import scikit_build_core' 2>/dev/null ||
  aarch64_die "the host python3 has no scikit-build-core; pip install 'scikit-build-core>=0.10'"
aarch64_fetch_python
aarch64_fetch_wheels

aarch64_log "building the aarch64 wheel into $out"
settings=(-C "cmake.define.CMAKE_TOOLCHAIN_FILE=$AARCH64_TOOLCHAIN")
while IFS= read -r define; do
  settings+=(-C "cmake.define.${define#-D}")
done < <(aarch64_python_cmake_defines)
suffix=$(aarch64_python max "" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
before=$(date +%s)
# scikit-build-core names the wheel's platform after _PYTHON_HOST_PLATFORM
# and its module after SETUPTOOLS_EXT_SUFFIX, instead of after this host.
_PYTHON_HOST_PLATFORM=linux-aarch64 SETUPTOOLS_EXT_SUFFIX=$suffix \
  python3 -m pip wheel "$AARCH64_ROOT" --no-deps --no-build-isolation --quiet -w "$out" \
  "${settings[@]}" || aarch64_die "pip wheel failed"
wheel=$(find "$out" -maxdepth 1 -name 'edge_reason-*-cp311-cp311-linux_aarch64.whl' \
  -newermt "@$before" | head -n 1)
[[ -n $wheel ]] || aarch64_die "no edge_reason-*-cp311-cp311-linux_aarch64.whl was written to $out"

aarch64_log "checking $(basename "$wheel")"
work=$(mktemp -d "${TMPDIR:-/tmp}/edge-reason-wheel.XXXXXX")
trap 'rm -rf "$work"' EXIT
python3 -m zipfile -e "$wheel" "$work/unpacked"
module=$(find "$work/unpacked/edge_reason" -maxdepth 1 -name "_native$suffix")
[[ -n $module ]] || aarch64_die "the wheel has no edge_reason/_native$suffix"
aarch64-linux-gnu-objdump -f "$module" | grep -q 'architecture: aarch64' ||
  aarch64_die "$module is not an aarch64 object"
# The newest symbol versions the module uses: the oldest glibc and libstdc++ it runs with.
newest() { aarch64-linux-gnu-objdump -T "$module" | grep -o "$1_[0-9.]*" | sort -uV | tail -n 1; }
printf 'ok   module %s, needs %s and %s on the target\n' "$(basename "$module")" \
  "$(newest GLIBC)" "$(newest GLIBCXX)"

# pip installs for the target platform, not this host's.
python3 -m pip install --quiet --root-user-action=ignore --no-deps --only-binary=:all: --platform linux_aarch64 \
  --python-version 3.11 --implementation cp --target "$work/target" "$wheel" ||
  aarch64_die "pip install --target of the wheel failed"
declare -A KERNEL=([cortex-a72]=neon [max]=neon_i8mm)
for cpu in cortex-a72 max; do
  aarch64_python "$cpu" "$work/target:$AARCH64_SITE" -c '
import sys
import edge_reason, edge_reason.boards, edge_reason.export, edge_reason.heuristics
from edge_reason import Engine, _native
kernel = _native.selected_kernel()
print(f"ok   {sys.argv[1]}: imported edge_reason {edge_reason.__version__}, kernel {kernel}")
sys.exit(kernel != sys.argv[2])
' "$cpu" "${KERNEL[$cpu]}" || aarch64_die "the installed wheel does not work on $cpu"
done
printf '\n%s\n' "$wheel"
