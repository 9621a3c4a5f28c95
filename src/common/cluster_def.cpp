#include "cluster_def.hpp"

#include <fmt/format.h>

#include <charconv>

#include "error.hpp"

namespace slurmvm {
namespace {

bool is_name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

[[noreturn]] void syntax_error(std::string_view text, std::size_t column, std::string_view what) {
  throw Error(fmt::format("invalid cluster definition \"{}\" at column {}: {} (expected TEMPLATE[:COUNT[:c=CPUS]][,...], e.g. master:1,compute:4 or master:1:c=8,compute:4:c=2)",
                          text, column + 1, what),
              ErrorKind::config);
}

std::uint32_t parse_count(std::string_view text, std::string_view piece, std::size_t column) {
  if (piece.empty()) syntax_error(text, column, "missing count after ':'");
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(piece.data(), piece.data() + piece.size(), value);
  if (ec == std::errc::result_out_of_range) {
    syntax_error(text, column, fmt::format("count {} is too large (at most {} VMs)", piece, kMaxVmsPerCluster));
  }
  if (ec != std::errc() || end != piece.data() + piece.size()) {
    syntax_error(text, column, fmt::format("count \"{}\" is not a positive integer", piece));
  }
  if (value == 0) syntax_error(text, column, "count must be at least 1");
  if (value > kMaxVmsPerCluster) {
    syntax_error(text, column, fmt::format("count {} is too large (at most {} VMs)", value, kMaxVmsPerCluster));
  }
  return static_cast<std::uint32_t>(value);
}

std::uint32_t parse_cpus(std::string_view text, std::string_view piece, std::size_t column) {
  if (!piece.starts_with("c=")) syntax_error(text, column, fmt::format("\"{}\" is not c=CPUS", piece));
  const std::string_view digits = piece.substr(2);
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || value == 0 ||
      value > kMaxCpusPerVm) {
    syntax_error(text, column + 2, fmt::format("CPUs per VM \"{}\" is not a number from 1 to {}", digits, kMaxCpusPerVm));
  }
  return static_cast<std::uint32_t>(value);
}

}  // namespace

bool is_valid_template_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  const char c0 = name.front();
  if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z'))) return false;
  for (char c : name) {
    if (!is_name_char(c)) return false;
  }
  return true;
}

ClusterDef ClusterDef::parse(std::string_view text) {
  ClusterDef def;
  if (text.empty()) syntax_error(text, 0, "the definition is empty");
  std::size_t pos = 0;
  std::uint64_t total = 0;
  for (;;) {
    const std::size_t comma = text.find(',', pos);
    const std::string_view item = text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    if (item.empty()) syntax_error(text, pos, "empty item");
    const std::size_t colon = item.find(':');
    const std::string_view name = item.substr(0, colon);
    if (name.empty()) syntax_error(text, pos, "missing template name");
    if (!is_valid_template_name(name)) {
      syntax_error(text, pos, fmt::format("\"{}\" is not a valid template name (a letter, then letters, digits, '_', '-', '.')", name));
    }
    ClusterGroup group{std::string(name), 1, std::nullopt};
    if (colon != std::string_view::npos) {
      const std::string_view rest = item.substr(colon + 1);
      const std::size_t colon2 = rest.find(':');
      group.count = parse_count(text, rest.substr(0, colon2), pos + colon + 1);
      if (colon2 != std::string_view::npos) {
        group.cpus = parse_cpus(text, rest.substr(colon2 + 1), pos + colon + 1 + colon2 + 1);
      }
    }
    total += group.count;
    if (total > kMaxVmsPerCluster) {
      syntax_error(text, pos, fmt::format("the cluster would have {} VMs, more than the limit of {}", total, kMaxVmsPerCluster));
    }
    def.groups_.push_back(std::move(group));
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  def.vm_count_ = static_cast<std::uint32_t>(total);
  return def;
}

const std::string& ClusterDef::template_of(std::uint32_t rank) const { return groups_[group_of(rank)].template_name; }

std::size_t ClusterDef::group_of(std::uint32_t rank) const {
  std::uint32_t first = 0;
  for (std::size_t i = 0; i < groups_.size(); ++i) {
    if (rank < first + groups_[i].count) return i;
    first += groups_[i].count;
  }
  throw Error(fmt::format("vm{} does not exist: the cluster has {} VMs (vm0..vm{})", rank, vm_count_,
                          vm_count_ == 0 ? 0 : vm_count_ - 1),
              ErrorKind::not_found);
}

std::string ClusterDef::to_string() const {
  std::string out;
  for (const auto& g : groups_) {
    if (!out.empty()) out += ',';
    out += fmt::format("{}:{}", g.template_name, g.count);
    if (g.cpus) out += fmt::format(":c={}", *g.cpus);
  }
  return out;
}

std::uint32_t ClusterDef::cpus_of_group(std::size_t g, std::uint32_t default_cpus) const {
  return groups_.at(g).cpus.value_or(default_cpus);
}

bool ClusterDef::sized(std::uint32_t default_cpus) const {
  for (std::size_t g = 1; g < groups_.size(); ++g) {
    if (cpus_of_group(g, default_cpus) != cpus_of_group(0, default_cpus)) return true;
  }
  return false;
}

void refuse_sizes_per_group(const ClusterDef& def) {
  for (const auto& g : def.groups()) {
    if (g.cpus) {
      throw Error(fmt::format("{}: CPUs per group (c=) are not supported yet; give every VM the same size with -c "
                              "CPUS (vm alloc, vm batch) or --cpus-per-task",
                              def.to_string()),
                  ErrorKind::config);
    }
  }
}

void ClusterDef::check_templates(const std::function<bool(std::string_view)>& exists) const {
  for (const auto& g : groups_) {
    if (!exists(g.template_name)) {
      throw Error(fmt::format("unknown template \"{}\" in cluster definition \"{}\" (`vm template list` shows the templates you can use)",
                              g.template_name, to_string()),
                  ErrorKind::not_found);
    }
  }
}

}  // namespace slurmvm
