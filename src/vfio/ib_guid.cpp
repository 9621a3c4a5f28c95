// InfiniBand GUIDs (ib_guid.hpp).
#include "vfio/ib_guid.hpp"
#include "vfio/pci_sysfs.hpp"

#include <cctype>

#include <fmt/format.h>

#include "error.hpp"

namespace slurmvm::vfio {
namespace {

constexpr std::uint64_t kPortPrefix = 0xc2ccULL;  // 0xc0cc with the locally administered bit
constexpr std::uint64_t kNodePrefix = 0xd2ccULL;

std::uint64_t derive(std::uint64_t prefix, std::uint16_t pkey, std::uint32_t rank) {
  if (pkey == 0 || pkey > 0x7ffe) throw Error(fmt::format("partition key {:#06x} out of range", pkey));
  if (rank > kMaxGuidRank) throw Error(fmt::format("VM rank {} is above {} for a GUID", rank, kMaxGuidRank));
  return prefix << 48 | std::uint64_t{pkey} << 32 | std::uint64_t{rank} << 8;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::uint64_t vf_port_guid(std::uint16_t pkey, std::uint32_t rank) { return derive(kPortPrefix, pkey, rank); }

std::uint64_t vf_node_guid(std::uint16_t pkey, std::uint32_t rank) { return derive(kNodePrefix, pkey, rank); }

namespace {
std::uint64_t derive_host(std::uint64_t prefix, std::uint32_t job, std::uint32_t rank) {
  if (rank > kMaxGuidRank) throw Error(fmt::format("VM rank {} is above {} for a GUID", rank, kMaxGuidRank));
  return prefix << 48 | std::uint64_t{job} << 16 | rank;
}
}  // namespace

std::uint64_t host_vf_port_guid(std::uint32_t job, std::uint32_t rank) { return derive_host(0xc6cc, job, rank); }

std::uint64_t host_vf_node_guid(std::uint32_t job, std::uint32_t rank) { return derive_host(0xd6cc, job, rank); }

std::string format_guid(std::uint64_t guid) { return fmt::format("{:#018x}", guid); }

std::string format_guid_colon(std::uint64_t guid) {
  std::string out;
  for (int shift = 56; shift >= 0; shift -= 8) {
    if (!out.empty()) out += ':';
    out += fmt::format("{:02x}", (guid >> shift) & 0xff);
  }
  return out;
}

std::optional<std::uint64_t> parse_guid(std::string_view text) {
  text = trim_space(text);
  std::uint64_t value = 0;
  if (text.find(':') != std::string_view::npos) {
    // 8 bytes of 2 hex digits: "c2:cc:20:01:00:00:05:00"
    if (text.size() != 23) return std::nullopt;
    for (std::size_t i = 0; i < 8; ++i) {
      const int hi = hex_digit(text[i * 3]), lo = hex_digit(text[i * 3 + 1]);
      if (hi < 0 || lo < 0 || (i < 7 && text[i * 3 + 2] != ':')) return std::nullopt;
      value = value << 8 | static_cast<std::uint64_t>(hi << 4 | lo);
    }
    return value;
  }
  if (text.starts_with("0x") || text.starts_with("0X")) text.remove_prefix(2);
  if (text.empty() || text.size() > 16) return std::nullopt;
  for (char c : text) {
    const int d = hex_digit(c);
    if (d < 0) return std::nullopt;
    value = value << 4 | static_cast<std::uint64_t>(d);
  }
  return value;
}

}  // namespace slurmvm::vfio
