// What the CPU we run on can execute, read from the OS (cpuid on x86;
// getauxval(AT_HWCAP/AT_HWCAP2) on Linux aarch64, never /proc/cpuinfo, which
// shows the host under an emulator).
#pragma once

namespace edge {

// One flag per feature of kernels/isa_table.def, on every architecture (a
// feature of another one stays false). What each flag demands is in
// cpu_features.cpp: avx2 with FMA and F16C; avx512_vnni with AVX-512
// F/BW/VL and an OS that saves zmm state; dotprod ARMv8.2 SDOT/UDOT; i8mm
// ARMv8.6 SMMLA.
struct CpuFeatures {
#define EDGE_CPU_FEATURE(name, arch) bool name = false;
#define EDGE_KERNEL_VARIANT(name, arch, needs, flags)
#include "kernels/isa_table.def"
#undef EDGE_CPU_FEATURE
#undef EDGE_KERNEL_VARIANT
};

const CpuFeatures& cpu_features();

}  // namespace edge
