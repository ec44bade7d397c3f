#include "cpu_features.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace edge {
namespace {

#if defined(__x86_64__) || defined(_M_X64)
// XCR0: which register states the OS saves on a context switch. A CPU may
// report AVX-512 while the OS does not preserve zmm registers.
unsigned long long read_xcr0() {
  unsigned int eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}

CpuFeatures detect() {
  CpuFeatures f;
  unsigned int eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  const bool osxsave = ecx & (1u << 27), fma = ecx & (1u << 12), f16c = ecx & (1u << 29);
  if (!osxsave) return f;
  const unsigned long long xcr0 = read_xcr0();
  const bool os_avx = (xcr0 & 0x6) == 0x6;          // xmm + ymm
  const bool os_avx512 = (xcr0 & 0xE6) == 0xE6;     // + opmask, zmm_hi256, hi16_zmm
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return f;
  const bool avx2 = ebx & (1u << 5), avx512f = ebx & (1u << 16), avx512bw = ebx & (1u << 30),
             avx512vl = ebx & (1u << 31), vnni = ecx & (1u << 11);
  f.avx2 = os_avx && avx2 && fma && f16c;
  f.avx512_vnni = f.avx2 && os_avx512 && avx512f && avx512bw && avx512vl && vnni;
  return f;
}
#elif defined(__aarch64__) && defined(__linux__)
CpuFeatures detect() {
  // Bit positions from the Linux arm64 hwcap ABI (asm/hwcap.h).
  constexpr unsigned long kHwcapAsimd = 1ul << 1, kHwcapAsimddp = 1ul << 20;
  constexpr unsigned long kHwcap2I8mm = 1ul << 13;
  const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
  CpuFeatures f;
  f.neon = hw & kHwcapAsimd;
  f.dotprod = f.neon && (hw & kHwcapAsimddp);
  f.i8mm = f.dotprod && (hw2 & kHwcap2I8mm);
  return f;
}
#else
CpuFeatures detect() { return {}; }
#endif

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

}  // namespace edge
