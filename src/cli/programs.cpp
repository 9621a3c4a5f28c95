#include "programs.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include <fmt/format.h>

#include "error.hpp"

namespace slurmvm::cli {

std::filesystem::path self_executable() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error::from_errno("cannot find the vm program (/proc/self/exe)", ec.value());
  return p;
}

std::filesystem::path helper_program(const std::string& name) {
  if (const char* dir = std::getenv("SLURM_VM_LIBEXECDIR"); dir != nullptr && dir[0] == '/') {
    return std::filesystem::path(dir) / name;
  }
  const auto build_tree = self_executable().parent_path().parent_path() / "launch" / name;
  if (::access(build_tree.c_str(), X_OK) == 0) return build_tree;
  return std::filesystem::path(SLURM_VM_LIBEXECDIR) / name;
}

[[noreturn]] void exec_program(std::vector<std::string> argv, const std::string& hint) {
  std::vector<char*> c_argv;
  for (auto& a : argv) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);
  ::execvp(c_argv[0], c_argv.data());
  throw Error::from_errno(fmt::format("cannot run {} ({})", argv[0], hint), errno);
}

}  // namespace slurmvm::cli
