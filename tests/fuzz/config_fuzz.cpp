// The site's and the user's configuration files (templates.yaml, networks.yaml,
// resources.yaml, repos.yaml, slurm-vm.yaml), loaded and cross-checked the way every program
// loads them: the first byte picks the file the rest becomes, beside the example
// configuration's other files (the seed corpus is that configuration's files).
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.hpp"
#include "fuzz_input.hpp"

namespace {
const char* const kFiles[] = {"templates.yaml", "networks.yaml", "resources.yaml", "repos.yaml", "slurm-vm.yaml"};

// A private directory in the runner's scratch directory (fuzz_input.hpp).
const std::filesystem::path& work_dir() {
  static const std::filesystem::path dir = [] {
    std::string templ = slurmvm::fuzz::scratch_dir() + "/svm-fuzz-config-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) std::abort();
    return std::filesystem::path(templ);
  }();
  return dir;
}

void write(const std::filesystem::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto& dir = work_dir();
  // The other files as the example has them (SLURM_VM_FUZZ_CONFIG), this one as the input says:
  // the example's files once, then only the file the previous input replaced is put back.
  auto restore = [&](const char* f) {
    const auto example = std::filesystem::path(SLURM_VM_FUZZ_CONFIG) / f;
    std::error_code ignored;
    if (std::filesystem::exists(example)) {
      std::filesystem::copy_file(example, dir / f, std::filesystem::copy_options::overwrite_existing);
    } else {
      std::filesystem::remove(dir / f, ignored);
    }
  };
  static const char* replaced = [&] {
    for (const char* f : kFiles) restore(f);
    return static_cast<const char*>(nullptr);
  }();
  if (replaced != nullptr) restore(replaced);
  replaced = kFiles[data[0] % 5];
  write(dir / replaced, slurmvm::fuzz::as_text(data + 1, size - 1));
  slurmvm::fuzz::expect_parsed_or_refused([&] { (void)slurmvm::config::load_config({dir, std::nullopt}); });
  return 0;
}
