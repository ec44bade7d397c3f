#include <cstdlib>
#include <stdexcept>

#include "../cpu_features.h"
#include "kernels.h"

namespace edge {

std::vector<KernelVariant> kernel_variants() {
  const CpuFeatures& cpu = cpu_features();
  std::vector<KernelVariant> v;
  // isa_table.def's variants for this architecture, in its order (fastest first).
#define EDGE_CPU_FEATURE(name, arch)
#define EDGE_FEATURE(feature) cpu.feature
#define EDGE_KERNEL_VARIANT(name, arch, needs, flags) EDGE_ON_##arch(v.push_back({&name##_kernels(), needs});)
#include "isa_table.def"
#undef EDGE_CPU_FEATURE
#undef EDGE_FEATURE
#undef EDGE_KERNEL_VARIANT
  (void)cpu;
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
