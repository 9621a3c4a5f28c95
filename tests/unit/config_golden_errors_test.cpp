// Golden errors: each directory under tests/data/config/bad/ is a system configuration
// directory (with a `user/` directory when the case needs one) that fails to load, and
// <case>.expected next to it holds the exact message, with @DIR@ standing for the directory.
// The messages are the user interface of a bad configuration: a change to one must be deliberate.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "config/config.hpp"
#include "error.hpp"

namespace {

const std::filesystem::path kBad = SLURM_VM_TEST_DATA "/config/bad";

std::vector<std::string> cases() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(kBad)) {
    if (entry.path().extension() == ".expected") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string expected_message(const std::string& name) {
  std::ifstream in(kBad / (name + ".expected"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && text.back() == '\n') text.pop_back();
  const std::string dir = (kBad / name).string();
  for (std::size_t pos; (pos = text.find("@DIR@")) != std::string::npos;) text.replace(pos, 5, dir);
  return text;
}

class ConfigGoldenErrors : public testing::TestWithParam<std::string> {};

TEST_P(ConfigGoldenErrors, MessageIsExactly) {
  const std::filesystem::path dir = kBad / GetParam();
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  const auto user = std::filesystem::is_directory(dir / "user")
                        ? std::optional<std::filesystem::path>(dir / "user")
                        : std::nullopt;
  try {
    slurmvm::config::load_config({dir, user});
    FAIL() << "loading " << dir << " succeeded";
  } catch (const slurmvm::Error& e) {
    EXPECT_EQ(e.kind(), slurmvm::ErrorKind::config);
    EXPECT_EQ(e.what(), expected_message(GetParam()));
  }
}

INSTANTIATE_TEST_SUITE_P(Config, ConfigGoldenErrors, testing::ValuesIn(cases()),
                         [](const testing::TestParamInfo<std::string>& param) {
                           std::string name = param.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(ConfigGoldenErrorsSet, EveryCaseDirectoryHasItsExpectedMessage) {
  for (const auto& entry : std::filesystem::directory_iterator(kBad)) {
    if (entry.is_directory()) {
      EXPECT_TRUE(std::filesystem::exists(entry.path().string() + ".expected")) << entry.path();
    }
  }
  EXPECT_GE(cases().size(), 20u);
}

}  // namespace
