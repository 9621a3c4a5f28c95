// sysfs text parsers (pci_sysfs.hpp).
#include "vfio/pci_sysfs.hpp"

#include <cctype>
#include <charconv>

namespace slurmvm::vfio {

std::string_view trim_space(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

namespace {

std::string_view trim_newline(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  return s;
}

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

}  // namespace

std::optional<std::uint16_t> parse_pci_id(std::string_view text) {
  text = trim_newline(text);
  if (!text.starts_with("0x") || text.size() < 3 || text.size() > 6) return std::nullopt;
  text.remove_prefix(2);
  std::uint16_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, 16);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

std::optional<unsigned> parse_count(std::string_view text) {
  text = trim_newline(text);
  if (text.empty() || text.size() > 9) return std::nullopt;
  unsigned v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

std::string_view link_name(std::string_view target) {
  target = trim_newline(target);
  const auto slash = target.rfind('/');
  return slash == std::string_view::npos ? target : target.substr(slash + 1);
}

std::optional<unsigned> parse_iommu_group(std::string_view target) {
  target = trim_newline(target);
  const auto name = link_name(target);
  const auto dir = target.substr(0, target.size() - name.size());
  if (!dir.ends_with("iommu_groups/")) return std::nullopt;
  return parse_count(name);
}

std::optional<unsigned> parse_virtfn_entry(std::string_view name) {
  if (!name.starts_with("virtfn")) return std::nullopt;
  name.remove_prefix(6);
  if (name.size() > 1 && name.front() == '0') return std::nullopt;
  return parse_count(name);
}

bool is_full_bdf(std::string_view t) {
  // DDDD:BB:SS.F
  if (t.size() != 12 || t[4] != ':' || t[7] != ':' || t[10] != '.') return false;
  for (std::size_t i : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u}) {
    if (!is_hex(t[i])) return false;
  }
  return t[11] >= '0' && t[11] <= '7';
}

bool is_driver_name(std::string_view t) {
  if (t.empty() || t.size() > 64) return false;
  for (char c : t) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  }
  return true;
}

}  // namespace slurmvm::vfio
