# shellcheck shell=bash
# Shared by boards/cross-test.sh and boards/build-aarch64-wheel.sh (source it;
# it only defines variables and functions): the host tools an aarch64 cross
# build needs, an arm64 CPython 3.11 with its headers fetched from Debian
# without touching the host's packages, aarch64 wheels of the runtime
# dependencies, and a way to run that Python under QEMU.
#
# Downloads are cached in ${EDGE_REASON_CACHE:-$HOME/.cache/edge-reason}/aarch64.

AARCH64_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AARCH64_CACHE=${EDGE_REASON_CACHE:-$HOME/.cache/edge-reason}/aarch64
# shellcheck disable=SC2034  # used by the scripts that source this file
AARCH64_TOOLCHAIN=$AARCH64_ROOT/boards/toolchains/aarch64-linux-gnu.cmake
# The cross toolchain's own glibc: QEMU's -L prefix for the target's loader.
AARCH64_LIBC=/usr/aarch64-linux-gnu
# Debian's arm64 python3.11 packages, unpacked (never installed).
AARCH64_SYSROOT=$AARCH64_CACHE/python3.11
# aarch64 wheels of the runtime dependencies, unpacked: the emulated site-packages.
AARCH64_SITE=$AARCH64_CACHE/site-packages

# CPython 3.11 is what Raspberry Pi OS and Debian bookworm ship. These arm64
# packages make a working interpreter (with ssl, ctypes, bz2, lzma) and its
# headers; glibc and libstdc++ come from the cross toolchain instead.
AARCH64_PYTHON_DEBS=(python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libpython3.11
                     libpython3.11-dev libexpat1 zlib1g libffi8 libssl3 libbz2-1.0 liblzma5 libuuid1)
# Pinned so that CI is reproducible. numpy 2.2 is the last series with
# manylinux2014 (glibc 2.17) aarch64 wheels, which any Pi or Jetson can run.
AARCH64_WHEELS=(numpy==2.2.6 tokenizers==0.23.3 safetensors==0.8.0)

aarch64_log() { printf '\n== %s\n' "$*"; }
aarch64_die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# aarch64_require_commands COMMAND=PACKAGE...: dies naming the Debian packages
# to install when any COMMAND is missing.
aarch64_require_commands() {
  local pair missing=()
  for pair in "$@"; do
    command -v "${pair%%=*}" >/dev/null || missing+=("${pair#*=}")
  done
  if ((${#missing[@]})); then
    aarch64_die "missing host tools; install them with:
  apt-get install -y $(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"
  fi
}

# Every host tool the cross build uses, with the Debian package that has it.
aarch64_require_tools() {
  aarch64_require_commands aarch64-linux-gnu-g++=g++-aarch64-linux-gnu \
    aarch64-linux-gnu-objdump=binutils-aarch64-linux-gnu \
    aarch64-linux-gnu-nm=binutils-aarch64-linux-gnu qemu-aarch64-static=qemu-user-static \
    apt-get=apt dpkg-deb=dpkg cmake=cmake ninja=ninja-build python3=python3
  [[ -e $AARCH64_LIBC/lib/ld-linux-aarch64.so.1 ]] ||
    aarch64_die "$AARCH64_LIBC has no aarch64 glibc; install g++-aarch64-linux-gnu"
  python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' ||
    aarch64_die "the host python3 must be 3.11, the version of the arm64 CPython it builds for"
  python3 -c 'import pybind11' 2>/dev/null ||
    aarch64_die "the host python3 has no pybind11; pip install 'pybind11>=2.12'"
}

# Fetch AARCH64_PYTHON_DEBS with a private apt state configured for arm64 only
# (its own package lists, an empty dpkg status, the host's Debian release).
# dpkg --add-architecture is not needed, and nothing is installed.
aarch64_fetch_python() {
  local stamp=$AARCH64_SYSROOT/.packages
  if [[ -x $AARCH64_SYSROOT/usr/bin/python3.11 && -f $stamp &&
    "$(cat "$stamp")" == "${AARCH64_PYTHON_DEBS[*]}" ]]; then
    return
  fi
  aarch64_log "fetching Debian's arm64 python3.11 into $AARCH64_SYSROOT"
  local apt=$AARCH64_CACHE/apt codename
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:?}") ||
    aarch64_die "cannot tell the Debian release from /etc/os-release"
  mkdir -p "$apt"/{lists/partial,archives/partial,sources,debs}
  : >"$apt/status"
  cat >"$apt/sources/debian.sources" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: $codename $codename-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: $codename-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  local opts=(
    -o "APT::Architecture=arm64" -o "APT::Architectures::=arm64"
    -o "Dir::State::Lists=$apt/lists" -o "Dir::State::status=$apt/status"
    -o "Dir::Cache=$apt" -o "Dir::Cache::Archives=$apt/archives"
    -o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt/sources"
    -o "Debug::NoLocking=true" -o "APT::Sandbox::User=$(id -un)"
  )
  apt-get "${opts[@]}" -qq update || aarch64_die "apt-get update (arm64 lists) failed"
  rm -f "$apt"/debs/*.deb
  (cd "$apt/debs" && apt-get "${opts[@]}" -qq download "${AARCH64_PYTHON_DEBS[@]}") ||
    aarch64_die "apt-get download of the arm64 python packages failed"
  rm -rf "$AARCH64_SYSROOT"
  local deb
  for deb in "$apt"/debs/*.deb; do dpkg-deb -x "$deb" "$AARCH64_SYSROOT"; done
  printf '%s' "${AARCH64_PYTHON_DEBS[*]}" >"$stamp"
}

# Download AARCH64_WHEELS and unpack them into AARCH64_SITE.
aarch64_fetch_wheels() {
  local stamp=$AARCH64_SITE/.wheels
  if [[ -f $stamp && "$(cat "$stamp")" == "${AARCH64_WHEELS[*]}" ]]; then
    return
  fi
  aarch64_log "fetching aarch64 wheels: ${AARCH64_WHEELS[*]}"
  local wheels=$AARCH64_CACHE/wheels wheel
  rm -rf "$wheels" "$AARCH64_SITE"
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --platform manylinux2014_aarch64 --python-version 3.11 --implementation cp \
    -d "$wheels" "${AARCH64_WHEELS[@]}" || aarch64_die "pip download of aarch64 wheels failed"
  for wheel in "$wheels"/*.whl; do python3 -m zipfile -e "$wheel" "$AARCH64_SITE"; done
  printf '%s' "${AARCH64_WHEELS[*]}" >"$stamp"
}

# aarch64_python CPU PYTHONPATH ARGS...: the arm64 python3.11 on an emulated CPU,
# importing only from PYTHONPATH and its own stdlib (-s: no user site, -P: not
# the current folder, which may be a source tree).
aarch64_python() {
  local cpu=$1 path=$2
  shift 2
  qemu-aarch64-static -L "$AARCH64_LIBC" -cpu "$cpu" \
    -E "LD_LIBRARY_PATH=$AARCH64_SYSROOT/usr/lib/aarch64-linux-gnu:$AARCH64_SYSROOT/lib/aarch64-linux-gnu" \
    -E "PYTHONPATH=$path" -E "PYTHONDONTWRITEBYTECODE=1" \
    "$AARCH64_SYSROOT/usr/bin/python3.11" -s -P "$@"
}

# CMake definitions that build the pybind11 module for the arm64 CPython: its
# headers (Debian's pyconfig.h includes <aarch64-linux-gnu/python3.11/...>,
# hence -idirafter the sysroot's include folder, searched after the
# toolchain's own) and its extension suffix, which the host interpreter that
# FindPython runs would otherwise give as x86_64's.
aarch64_python_cmake_defines() {
  local suffix
  suffix=$(aarch64_python max "" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))') ||
    aarch64_die "the emulated python3.11 does not run"
  printf '%s\n' \
    "-DPython_EXECUTABLE=$(command -v python3)" \
    "-DPython_INCLUDE_DIR=$AARCH64_SYSROOT/usr/include/python3.11" \
    "-Dpybind11_DIR=$(python3 -m pybind11 --cmakedir)" \
    "-DPYTHON_MODULE_EXTENSION=$suffix" \
    "-DCMAKE_CXX_FLAGS=-idirafter $AARCH64_SYSROOT/usr/include"
}
