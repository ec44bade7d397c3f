# Cross-compiling for 64-bit ARM Linux (Raspberry Pi 3/4/5, Jetson) from an
# x86_64 Debian host: apt-get install g++-aarch64-linux-gnu qemu-user-static.
#
#   cmake -S . -B build/aarch64 -DCMAKE_TOOLCHAIN_FILE=boards/toolchains/aarch64-linux-gnu.cmake
#
# Binaries built with it run on the host under user-mode QEMU (ctest and
# try_run use the emulator below); -L points QEMU at the target's loader and
# libc, since binfmt_misc is not assumed.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

set(EDGE_REASON_AARCH64_SYSROOT /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH ${EDGE_REASON_AARCH64_SYSROOT})
# Programs (code generators, the Python interpreter that drives a build) come
# from the host; libraries and headers only from the target.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static -L ${EDGE_REASON_AARCH64_SYSROOT})
