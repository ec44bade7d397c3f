#!/usr/bin/env bash
# Cross-build edge-reason for aarch64 on this x86_64 host and test it under
# QEMU user-mode emulation, on three CPUs that stand for the boards:
#
#   cortex-a72  plain NEON          (Raspberry Pi 4)   -> kernel neon
#   cortex-a76  NEON + dotprod      (Raspberry Pi 5)   -> kernel neon_dotprod
#   max         NEON + dotprod + i8mm                  -> kernel neon_i8mm
#
# 1. the native tests (every kernel variant against the scalar reference, the
#    engine) pass on each CPU, and the dispatcher picks the kernel above and
#    reports the variants the CPU lacks as unsupported;
# 2. no CPU runs an instruction it lacks: QEMU raises SIGILL on one, so the
#    runs on cortex-a72 prove the generic code free of dotprod and i8mm; and the
#    objects of generic code contain no SDOT/UDOT/SMMLA/UMMLA, while the kernel
#    files built with extension flags export nothing the linker could share
#    with generic code;
# 3. the Python module, built against Debian's arm64 CPython 3.11, gives the
#    host engine's logits on a tiny model under emulated Python, for every
#    kernel variant each CPU runs (tests/aarch64/engine_parity.py).
#
# Usage: bash boards/cross-test.sh    (exits non-zero on any failure)
# Needs: apt-get install -y g++-aarch64-linux-gnu qemu-user-static, and on the
# host python3.11: pybind11 and an installed edge-reason (the reference side).
set -euo pipefail
# shellcheck source=aarch64-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/aarch64-env.sh"

CPUS=(cortex-a72 cortex-a76 max)
declare -A KERNEL=([cortex-a72]=neon [cortex-a76]=neon_dotprod [max]=neon_i8mm)
declare -A VARIANTS=(
  [cortex-a72]="variants: neon_i8mm(unsupported) neon_dotprod(unsupported) neon scalar"
  [cortex-a76]="variants: neon_i8mm(unsupported) neon_dotprod neon scalar"
  [max]="variants: neon_i8mm neon_dotprod neon scalar"
)
# Instructions of the dotprod and i8mm extensions.
EXTENSION_INSNS='sdot|udot|usdot|sudot|smmla|ummla|usmmla'

failures=0
fail() {
  printf 'FAIL %s\n' "$*"
  failures=$((failures + 1))
}
timed() { printf '   (%ds)\n' $((SECONDS - $1)); }

# Objects of every csrc/ file except the kernel files that carry extension
# flags: none may contain an extension instruction.
check_generic_objects() {
  local obj count checked=0
  while IFS= read -r obj; do
    count=$(aarch64-linux-gnu-objdump -d --no-show-raw-insn "$obj" |
      awk -v re="^($EXTENSION_INSNS)\$" '$2 ~ re' | wc -l)
    checked=$((checked + 1))
    ((count == 0)) || fail "$obj (generic code) contains $count dotprod/i8mm instructions"
  done < <(find "$1" -path '*/csrc/*' -name '*.o' ! -name 'neon_dotprod.cpp.o' ! -name 'neon_i8mm.cpp.o')
  ((checked > 0)) || fail "no objects found under $1"
  printf 'ok   %d generic objects free of %s\n' "$checked" "${EXTENSION_INSNS//|/\/}"
}

# A kernel file built with extension flags may define only its table accessor:
# an inline function it exported (weak) could be the copy the linker keeps for
# every caller, extension instructions and all.
check_kernel_exports() {
  local name obj exported
  for name in neon_dotprod neon_i8mm; do
    obj=$(find "$1" -name "$name.cpp.o")
    exported=$(aarch64-linux-gnu-nm -C --defined-only --extern-only "$obj" | cut -d' ' -f3-)
    if [[ $exported == "edge::${name}_kernels()" ]]; then
      printf 'ok   %s.o exports only edge::%s_kernels()\n' "$name" "$name"
    else
      fail "$name.o exports more than its table: $exported"
    fi
  done
}

# run_native_test CPU NAME: one test binary on one emulated CPU.
run_native_test() {
  local cpu=$1 name=$2 out status=0
  out=$(qemu-aarch64-static -L "$AARCH64_LIBC" -cpu "$cpu" "$build/$name" 2>&1) || status=$?
  if ((status != 0)); then
    printf '%s\n' "$out" | grep -v '^ok ' || true
    fail "$cpu $name exited with status $status"
    return
  fi
  printf 'ok   %-10s %-12s %s\n' "$cpu" "$name" "$(tail -n 1 <<<"$out")"
  if [[ $name == test_kernels ]]; then
    grep -qxF "${VARIANTS[$cpu]}" <<<"$out" ||
      fail "$cpu: expected '${VARIANTS[$cpu]}', got '$(grep '^variants:' <<<"$out")'"
    grep -qxF "  selected kernel: ${KERNEL[$cpu]}" <<<"$out" ||
      fail "$cpu: dispatcher did not select ${KERNEL[$cpu]}: $(grep 'selected kernel' <<<"$out")"
  fi
}

# The edge_reason package as the wheel lays it out (pyproject.toml's
# wheel.packages), with the cross-built module inside.
stage_package() {
  local dest=$1 module=$2 target source
  while read -r target source; do
    mkdir -p "$dest/$target"
    cp -r "$AARCH64_ROOT/$source/." "$dest/$target/"
  done < <(python3 -c '
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    packages = tomllib.load(f)["tool"]["scikit-build"]["wheel"]["packages"]
for target, source in sorted(packages.items()):
    print(target, source)
' "$AARCH64_ROOT/pyproject.toml")
  find "$dest" \( -name '__pycache__' -o -name '*.so' \) -prune -exec rm -rf {} +
  cp "$module" "$dest/edge_reason/"
}

start=$SECONDS
aarch64_require_tools
aarch64_fetch_python
aarch64_fetch_wheels

work=$(mktemp -d "${TMPDIR:-/tmp}/edge-reason-aarch64.XXXXXX")
trap 'rm -rf "$work"' EXIT
build=$work/build

aarch64_log "cross-building the engine, its tests and the Python module for aarch64"
t=$SECONDS
mapfile -t python_defines < <(aarch64_python_cmake_defines)
cmake -S "$AARCH64_ROOT" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$AARCH64_TOOLCHAIN" -DEDGE_REASON_WERROR=ON \
  -DEDGE_REASON_BUILD_TESTS=ON -DEDGE_REASON_BUILD_PYTHON=ON "${python_defines[@]}" \
  >"$work/configure.log" || { cat "$work/configure.log"; aarch64_die "cmake configure failed"; }
ninja -C "$build" >"$work/build.log" || { cat "$work/build.log"; aarch64_die "build failed"; }
timed "$t"

aarch64_log "instruction checks"
check_generic_objects "$build"
check_kernel_exports "$build"

aarch64_log "native tests under qemu-aarch64"
t=$SECONDS
for cpu in "${CPUS[@]}"; do
  for name in test_kernels test_engine test_encoder test_thread_pool; do run_native_test "$cpu" "$name"; done
done
timed "$t"

aarch64_log "Python engine parity under emulated CPython 3.11 (reference: this host's engine)"
t=$SECONDS
python3 "$AARCH64_ROOT/tests/aarch64/engine_parity.py" write "$work/model" ||
  aarch64_die "the host reference needs an installed edge-reason on python3 (pip install .)"
modules=("$build"/_native.*.so)
stage_package "$work/package" "${modules[0]}"
for cpu in "${CPUS[@]}"; do
  printf -- '-- %s\n' "$cpu"
  aarch64_python "$cpu" "$work/package:$AARCH64_SITE" \
    "$AARCH64_ROOT/tests/aarch64/engine_parity.py" check "$work/model" \
    --expect-kernel "${KERNEL[$cpu]}" || fail "$cpu: Python engine parity"
done
timed "$t"

printf '\n%s: %d failures, %ds in all\n' "$([[ $failures == 0 ]] && echo passed || echo FAILED)" \
  "$failures" $((SECONDS - start))
((failures == 0))
