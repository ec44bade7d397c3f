// A few lines of test harness for the native tests: no framework needed on a
// cross-compiled board image. Each failed CHECK prints where and continues;
// main() ends with the "N passed, N failed" line CI reads.
#pragma once

#include <cstdio>
#include <exception>
#include <functional>
#include <string>
#include <vector>

namespace edge_test {

// Whether fn() throws a std::exception (a refused input, in these tests).
template <class Fn>
bool throws(Fn fn) {
  try {
    fn();
  } catch (const std::exception&) {
    return true;
  }
  return false;
}

struct Registry {
  std::vector<std::pair<std::string, std::function<void()>>> tests;
  int failures_in_current = 0;
  static Registry& get() {
    static Registry r;
    return r;
  }
};

struct Register {
  Register(const char* name, std::function<void()> fn) {
    Registry::get().tests.emplace_back(name, std::move(fn));
  }
};

inline int run_all() {
  int passed = 0, failed = 0;
  for (auto& [name, fn] : Registry::get().tests) {
    Registry::get().failures_in_current = 0;
    fn();
    if (Registry::get().failures_in_current) {
      std::printf("FAIL %s\n", name.c_str());
      ++failed;
    } else {
      std::printf("ok   %s\n", name.c_str());
      ++passed;
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}

}  // namespace edge_test

#define TEST(name)                                                  \
  static void name();                                               \
  static edge_test::Register register_##name(#name, name);          \
  static void name()

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::printf("  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);      \
      ++edge_test::Registry::get().failures_in_current;                          \
    }                                                                            \
  } while (0)

#define CHECK_MSG(cond, ...)                                                     \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::printf("  %s:%d: ", __FILE__, __LINE__);                              \
      std::printf(__VA_ARGS__);                                                  \
      std::printf("\n");                                                         \
      ++edge_test::Registry::get().failures_in_current;                          \
    }                                                                            \
  } while (0)
