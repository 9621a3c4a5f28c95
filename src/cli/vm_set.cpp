// VM sets (vm_set.hpp).
#include "vm_set.hpp"

#include <algorithm>
#include <charconv>
#include <string>

#include <fmt/format.h>

#include "error.hpp"
#include "slurm_lists.hpp"

namespace slurmvm::cli {

std::vector<std::uint32_t> parse_vm_set(std::string_view text, std::uint32_t vm_count) {
  std::vector<std::string> names;
  try {
    names = expand_hostlist(text);
  } catch (const Error& e) {
    throw Error(fmt::format("\"{}\" is not a VM set ({}): expected e.g. vm0, vm[0-3,7]", text, e.what()),
                ErrorKind::usage);
  }
  if (names.empty()) throw Error("empty VM set: expected e.g. vm0, vm[0-3,7]", ErrorKind::usage);
  std::vector<std::uint32_t> ranks;
  for (const std::string& name : names) {
    std::uint32_t rank = 0;
    const bool digits = name.size() > 2 && name.starts_with("vm") && (name.size() == 3 || name[2] != '0');
    const auto [end, ec] = std::from_chars(name.data() + 2, name.data() + name.size(), rank);
    if (!digits || ec != std::errc() || end != name.data() + name.size()) {
      throw Error(fmt::format("\"{}\" in the VM set {} is not a VM name: expected vm0, vm1, ...", name, text),
                  ErrorKind::usage);
    }
    if (rank >= vm_count) {
      throw Error(fmt::format("{} does not exist: the cluster has {} VMs (vm0..vm{})", name, vm_count, vm_count - 1),
                  ErrorKind::not_found);
    }
    ranks.push_back(rank);
  }
  std::sort(ranks.begin(), ranks.end());
  ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());
  return ranks;
}

std::string format_vm_set(const std::vector<std::uint32_t>& ranks) {
  if (ranks.size() == 1) return fmt::format("vm{}", ranks[0]);
  std::string out = "vm[";
  for (std::size_t i = 0; i < ranks.size();) {
    std::size_t j = i;
    while (j + 1 < ranks.size() && ranks[j + 1] == ranks[j] + 1) ++j;
    if (i > 0) out += ',';
    out += j == i ? fmt::format("{}", ranks[i]) : fmt::format("{}-{}", ranks[i], ranks[j]);
    i = j + 1;
  }
  return out + "]";
}

}  // namespace slurmvm::cli
