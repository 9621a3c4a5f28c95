// Golden files: reviewed expected outputs under tests/data/golden/. A test compares what the
// code produces with the file; `UPDATE_GOLDEN=1 ctest -L unit` rewrites the files instead, and
// the diff is then reviewed like any other change.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

inline void expect_golden(const std::string& relative, const std::string& actual) {
  const std::filesystem::path file = std::filesystem::path(SLURM_VM_TEST_DATA) / "golden" / relative;
  const char* update = std::getenv("UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary | std::ios::trunc) << actual;
    return;
  }
  std::ifstream in(file, std::ios::binary);
  ASSERT_TRUE(in) << "missing golden file " << file << " (UPDATE_GOLDEN=1 creates it)";
  std::stringstream expected;
  expected << in.rdbuf();
  EXPECT_EQ(actual, expected.str()) << "differs from " << file << " (UPDATE_GOLDEN=1 rewrites it; review the diff)";
}
