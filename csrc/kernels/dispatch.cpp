#include <cstdlib>
#include <stdexcept>

#include "../cpu_features.h"
#include "kernels.h"

namespace edge {

std::vector<KernelVariant> kernel_variants() {
  const CpuFeatures& cpu = cpu_features();
  std::vector<KernelVariant> v;
#if defined(__x86_64__) || defined(_M_X64)
  v.push_back({&avx512_vnni_kernels(), cpu.avx512_vnni});
  v.push_back({&avx2_kernels(), cpu.avx2});
#endif
#if defined(__aarch64__)
  v.push_back({&neon_i8mm_kernels(), cpu.i8mm});
  v.push_back({&neon_dotprod_kernels(), cpu.dotprod});
  v.push_back({&neon_kernels(), cpu.neon});
#endif
  (void)cpu;
  v.push_back({&scalar_kernels(), true});
  return v;
}

const KernelTable& kernels_by_name(const std::string& name) {
  std::string known;
  for (const KernelVariant& v : kernel_variants()) {
    if (name == v.table->name) {
      if (!v.supported)
        throw std::runtime_error("kernel variant '" + name +
                                 "' is compiled in but this CPU cannot run it");
      return *v.table;
    }
    known += std::string(known.empty() ? "" : ", ") + v.table->name;
  }
  throw std::runtime_error("unknown kernel variant '" + name + "' (this build has: " + known +
                           ")");
}

const KernelTable& select_kernels() {
  const char* forced = std::getenv("EDGE_REASON_KERNEL");
  if (forced && *forced) return kernels_by_name(forced);
  for (const KernelVariant& v : kernel_variants())
    if (v.supported) return *v.table;
  return scalar_kernels();
}

}  // namespace edge
