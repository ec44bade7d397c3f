// What the CPU we run on can execute, read from the OS (cpuid on x86;
// getauxval(AT_HWCAP/AT_HWCAP2) on Linux aarch64, never /proc/cpuinfo, which
// shows the host under an emulator).
#pragma once

namespace edge {

struct CpuFeatures {
  bool avx2 = false;         // with FMA and F16C
  bool avx512_vnni = false;  // AVX-512 F/BW/VL + VNNI, and the OS saves zmm state
  bool neon = false;
  bool dotprod = false;      // ARMv8.2 SDOT/UDOT
  bool i8mm = false;         // ARMv8.6 SMMLA
};

const CpuFeatures& cpu_features();

}  // namespace edge
