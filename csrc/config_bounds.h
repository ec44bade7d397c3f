// The bound check every native config shares, so that each error reads alike:
// "<what>: <field> is <value>; it must be between <lo> and <hi>".
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace edge {

inline void check_bounded(const char* what, const char* name, int64_t value, int64_t lo,
                          int64_t hi) {
  if (value < lo || value > hi)
    throw std::invalid_argument(std::string(what) + ": " + name + " is " + std::to_string(value) +
                                "; it must be between " + std::to_string(lo) + " and " +
                                std::to_string(hi));
}

}  // namespace edge
