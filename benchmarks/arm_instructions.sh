#!/usr/bin/env bash
# What a decoded token and a prompt token cost on ARM, in instructions, without
# a board: the engine and llama.cpp (the baseline), cross-built for aarch64, run
# under QEMU user mode with a TCG plugin that counts every guest instruction
# executed (benchmarks/arm_instructions/count_insns.c), on three CPUs that
# stand for the boards:
#
#   cortex-a72  plain NEON          (Raspberry Pi 4)   engine kernel neon
#   cortex-a76  NEON + dotprod      (Raspberry Pi 5)   engine kernel neon_dotprod
#   max         NEON + dotprod + i8mm                  engine kernel neon_i8mm
#
# Both run a random-weight model of SmolLM2-135M's shape in int4 (llama.cpp:
# Q4_0) and int8 (Q8_0). A count covers a whole process, so each figure is the
# difference of two runs that differ only in the tokens they process:
#
#   per decoded token = (prompt 16 + 16 decoded - prompt 16) / 16
#   per prompt token  = (prompt 48 - prompt 16) / 32
#
# An instruction count is not a time: it ignores memory stalls (decode streams
# every weight once per token), latencies and issue width. It does say how much
# work each implementation asks of the CPU, exactly and repeatably.
#
# Usage: bash benchmarks/arm_instructions.sh [--cpus "cortex-a72 cortex-a76 max"]
#          [--formats "int4 int8"] [--mt-threads 4] [--no-llama] [--json FILE]
#   --mt-threads 0 skips the multi-threaded decode counts.
# Prints a markdown table; writes the figures to
# benchmarks/results/arm_instructions.json. Builds (llama.cpp per
# architecture, the GGUF models) are cached in
# ${EDGE_REASON_CACHE:-$HOME/.cache/edge-reason}/aarch64.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../boards/aarch64-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../boards/aarch64-env.sh"

HERE=$AARCH64_ROOT/benchmarks/arm_instructions
LLAMA_CPP_PYTHON=0.3.36
declare -A KERNEL=([cortex-a72]=neon [cortex-a76]=neon_dotprod [max]=neon_i8mm)
# The llama.cpp build each CPU runs: what a build for that board would target.
declare -A LLAMA_ARCH=(
  [cortex-a72]=armv8-a
  [cortex-a76]=armv8.2-a+dotprod+fp16
  [max]=armv8.6-a+dotprod+i8mm+fp16
)
declare -A GGUF_TYPE=([int4]=q4_0 [int8]=q8_0)

cpus=(cortex-a72 cortex-a76 max)
formats=(int4 int8)
mt_threads=4
with_llama=1
json=$AARCH64_ROOT/benchmarks/results/arm_instructions.json
while (($#)); do
  case $1 in
    --cpus) read -ra cpus <<<"${2:?}" && shift 2 ;;
    --formats) read -ra formats <<<"${2:?}" && shift 2 ;;
    --mt-threads) mt_threads=${2:?} && shift 2 ;;
    --no-llama) with_llama=0 && shift ;;
    --json) json=${2:?} && shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' && exit 0 ;;
    *) aarch64_die "unknown argument $1 (see --help)" ;;
  esac
done
for cpu in "${cpus[@]}"; do [[ -v KERNEL[$cpu] ]] || aarch64_die "unknown CPU $cpu"; done
for format in "${formats[@]}"; do [[ -v GGUF_TYPE[$format] ]] || aarch64_die "unknown format $format"; done

require_tools() {
  # qemu-user-static's qemu-aarch64-static cannot load plugins; Debian's
  # qemu-user (dynamically linked) can, and the two coexist.
  aarch64_require_commands aarch64-linux-gnu-g++=g++-aarch64-linux-gnu \
    aarch64-linux-gnu-gcc=gcc-aarch64-linux-gnu gcc=gcc qemu-aarch64=qemu-user cmake=cmake \
    ninja=ninja-build python3=python3
  [[ -e $AARCH64_LIBC/lib/ld-linux-aarch64.so.1 ]] ||
    aarch64_die "$AARCH64_LIBC has no aarch64 glibc; install g++-aarch64-linux-gnu"
  qemu-aarch64 -h | grep -q -- '-plugin' ||
    aarch64_die "this qemu-aarch64 cannot load TCG plugins; install Debian's qemu-user"
  if ((with_llama)); then
    python3 -c 'import gguf, numpy' 2>/dev/null ||
      aarch64_die "the host python3 needs the gguf package (and numpy): pip install gguf"
  fi
}

# build_engine DIR: the engine's static library and engine_decode, for
# aarch64, from this checkout (ninja rebuilds only what changed).
build_engine() {
  local dir=$1
  cmake -S "$HERE" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_TOOLCHAIN_FILE="$AARCH64_TOOLCHAIN" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; aarch64_die "engine: cmake configure failed"; }
  ninja -C "$dir" -j2 engine_decode >"$dir.build.log" 2>&1 ||
    { cat "$dir.build.log"; aarch64_die "engine: build failed"; }
}

# llama.cpp as llama-cpp-python $LLAMA_CPP_PYTHON vendors it: its sdist,
# fetched once.
llama_source() {
  local src=$AARCH64_CACHE/src dir=$AARCH64_CACHE/src/llama_cpp_python-$LLAMA_CPP_PYTHON
  if [[ ! -f $dir/vendor/llama.cpp/include/llama.h ]]; then
    aarch64_log "fetching llama-cpp-python $LLAMA_CPP_PYTHON's sources (llama.cpp) from PyPI" >&2
    mkdir -p "$src"
    python3 -m pip download --quiet --no-deps --no-binary llama-cpp-python \
      -d "$src" "llama-cpp-python==$LLAMA_CPP_PYTHON" >&2 ||
      aarch64_die "pip download of the llama-cpp-python sdist failed"
    tar -xzf "$src/llama_cpp_python-$LLAMA_CPP_PYTHON.tar.gz" -C "$src"
  fi
  printf '%s\n' "$dir/vendor/llama.cpp"
}

# build_llama ARCH: llama.cpp's static libraries for -march=ARCH, installed
# into the cache (skipped when built before with the same options), then
# llama_decode linked against them. One build tree serves every ARCH: only
# ggml's CPU backend takes the flag, so a change of ARCH rebuilds only that.
#
# ggml's own thread pool instead of OpenMP (llama.cpp's default is OpenMP):
# no libgomp to cross-link, and both spin-wait between operations, which is
# what a multi-threaded count includes either way. Q4_0 weight repacking
# (GGML_CPU_REPACK) stays on, as by default: llama.cpp picks its repacked
# layout at run time from the CPU's features.
build_llama() {
  local arch=$1 source build=$AARCH64_CACHE/llama.cpp-build prefix options stamp
  source=$(llama_source)
  prefix=$AARCH64_CACHE/llama.cpp-$arch
  options=(
    -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$AARCH64_TOOLCHAIN"
    -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF -DGGML_CPU_ARM_ARCH="$arch"
    -DGGML_OPENMP=OFF -DGGML_CCACHE=OFF
    -DLLAMA_BUILD_COMMON=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF
    -DLLAMA_OPENSSL=OFF
  )
  stamp="llama-cpp-python $LLAMA_CPP_PYTHON ${options[*]}"
  if [[ ! -f $prefix/.stamp || "$(cat "$prefix/.stamp")" != "$stamp" ]]; then
    aarch64_log "building llama.cpp for -march=$arch (once; cached in $prefix)"
    local t=$SECONDS
    rm -rf "$prefix"
    mkdir -p "$prefix" "$build"
    cmake -S "$source" -B "$build" "${options[@]}" -DCMAKE_INSTALL_PREFIX="$prefix" \
      >"$build/configure.log" 2>&1 ||
      { cat "$build/configure.log"; aarch64_die "llama.cpp: cmake configure failed"; }
    ninja -C "$build" -j2 install >"$build/build.log" 2>&1 ||
      { tail -n 50 "$build/build.log"; aarch64_die "llama.cpp: build failed"; }
    printf '%s' "$stamp" >"$prefix/.stamp"
    printf '   (%ds)\n' $((SECONDS - t))
  fi
  local driver=$prefix/llama_decode
  if [[ ! -x $driver || $HERE/llama_decode.cpp -nt $driver ]]; then
    local libs=("$prefix"/lib/libllama.a "$prefix"/lib/libggml.a "$prefix"/lib/libggml-cpu.a
                "$prefix"/lib/libggml-base.a)
    aarch64-linux-gnu-g++ -O2 -std=c++17 -I"$prefix/include" -o "$driver" \
      "$HERE/llama_decode.cpp" -Wl,--start-group "${libs[@]}" -Wl,--end-group -pthread ||
      aarch64_die "llama_decode: link failed"
  fi
}

# count CPU ARGS...: the instructions the aarch64 program ARGS executes on an
# emulated CPU; its output goes to $work/out.
count() {
  local cpu=$1
  shift
  if ! qemu-aarch64 -L "$AARCH64_LIBC" -cpu "$cpu" -plugin "$plugin,out=$work/count" \
    "$@" >"$work/out" 2>"$work/err"; then
    cat "$work/err" >&2
    aarch64_die "failed: qemu-aarch64 -cpu $cpu $*"
  fi
  cat "$work/count"
}

# measure IMPL CPU FORMAT PROMPT DECODE THREADS: one run, one line of $runs.
measure() {
  local impl=$1 cpu=$2 format=$3 prompt=$4 decode=$5 threads=$6 insns kernel="" bytes=""
  local t=$SECONDS
  if [[ $impl == engine ]]; then
    insns=$(count "$cpu" "$engine_build/engine_decode" "$format" "$prompt" "$decode" "$threads")
    kernel=$(sed -n 's/^kernel: //p' "$work/out")
    bytes=$(sed -n 's/^weight_bytes_per_token: //p' "$work/out")
  else
    insns=$(count "$cpu" "$AARCH64_CACHE/llama.cpp-${LLAMA_ARCH[$cpu]}/llama_decode" \
      "$AARCH64_CACHE/models/smollm2-135m-random-${GGUF_TYPE[$format]}.gguf" \
      "$prompt" "$decode" "$threads")
    kernel="llama.cpp -march=${LLAMA_ARCH[$cpu]}"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$impl" "$cpu" "$format" "$prompt" "$decode" \
    "$threads" "$insns" "$kernel" "$bytes" >>"$runs"
  printf '   %-6s %-10s %s prompt %2d decode %2d threads %d: %14d instructions (%ds)\n' \
    "$impl" "$cpu" "$format" "$prompt" "$decode" "$threads" "$insns" $((SECONDS - t))
}

start=$SECONDS
require_tools
work=$(mktemp -d "${TMPDIR:-/tmp}/arm-instructions.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The raw counts, kept in the cache: report.py can tabulate an interrupted run.
runs=$AARCH64_CACHE/arm_instructions/runs.tsv
mkdir -p "$(dirname "$runs")"
: >"$runs"

aarch64_log "building the counting plugin and the engine for aarch64"
plugin=$work/libcount_insns.so
gcc -O2 -shared -fPIC -fvisibility=hidden -Wall -Wextra -o "$plugin" "$HERE/count_insns.c"
# In the checkout, not the cache: a CMake tree belongs to one source directory.
engine_build=$AARCH64_ROOT/build/aarch64-arm-instructions
mkdir -p "$engine_build"
build_engine "$engine_build"

impls=(engine)
if ((with_llama)); then
  impls+=(llama)
  for cpu in "${cpus[@]}"; do build_llama "${LLAMA_ARCH[$cpu]}"; done
  for format in "${formats[@]}"; do
    python3 "$HERE/make_gguf.py" "${GGUF_TYPE[$format]}" \
      "$AARCH64_CACHE/models/smollm2-135m-random-${GGUF_TYPE[$format]}.gguf"
  done
fi

aarch64_log "counting instructions under qemu-aarch64 ($(qemu-aarch64 --version | head -n 1))"
# One thread first, for every CPU and format; then the multi-threaded counts,
# which take much longer: see report.py's note on them.
for cpu in "${cpus[@]}"; do
  for format in "${formats[@]}"; do
    for impl in "${impls[@]}"; do
      measure "$impl" "$cpu" "$format" 16 0 1
      measure "$impl" "$cpu" "$format" 16 16 1
      measure "$impl" "$cpu" "$format" 48 0 1
    done
  done
  selected=$(awk -F'\t' -v c="$cpu" '$1 == "engine" && $2 == c {print $8; exit}' "$runs")
  [[ $selected == "${KERNEL[$cpu]}" ]] ||
    printf 'note: on %s the engine selected %s, not %s\n' "$cpu" "$selected" "${KERNEL[$cpu]}"
done
if ((mt_threads > 1)); then
  for cpu in "${cpus[@]}"; do
    for format in "${formats[@]}"; do
      for impl in "${impls[@]}"; do
        measure "$impl" "$cpu" "$format" 16 0 "$mt_threads"
        measure "$impl" "$cpu" "$format" 16 16 "$mt_threads"
      done
    done
  done
fi

aarch64_log "results"
mkdir -p "$(dirname "$json")"
python3 "$HERE/report.py" "$runs" --json "$json" \
  --gguf-dir "$AARCH64_CACHE/models" \
  --qemu "$(qemu-aarch64 --version | head -n 1)" \
  --compiler "$(aarch64-linux-gnu-g++ --version | head -n 1)" \
  --host-cores "$(nproc)" \
  --engine-commit "$(git -C "$AARCH64_ROOT" describe --always --dirty 2>/dev/null || echo unknown)" \
  --llama-cpp "llama.cpp from llama-cpp-python $LLAMA_CPP_PYTHON, GGML_OPENMP=OFF"
printf '\n%ds in all; figures in %s\n' $((SECONDS - start)) "$json"
