// vms.json (network_map.hpp).
#include "launch/network_map.hpp"

#include <cerrno>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "error.hpp"
#include "launch/job_dir.hpp"

namespace slurmvm::launch {
namespace {

using nlohmann::json;

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

bool valid_mac(std::string_view mac) {
  if (mac.size() != 17) return false;
  for (std::size_t i = 0; i < mac.size(); ++i) {
    if (i % 3 == 2 ? mac[i] != ':' : !is_hex(mac[i])) return false;
  }
  return true;
}

// An interface name as the kernel accepts it (IFNAMSIZ - 1, no '/', ':' or whitespace), and no
// ',' or '=' that would change the meaning of QEMU's -netdev option string.
bool valid_ifname(std::string_view name) {
  if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
  return name.find_first_of("/: \t\n,=") == std::string_view::npos;
}

std::string string_field(const json& entry, const char* key, std::string_view where) {
  const auto it = entry.find(key);
  if (it == entry.end() || it->is_null()) return {};
  if (!it->is_string()) {
    throw Error(fmt::format("{}: \"{}\" must be a string", where, key), ErrorKind::config);
  }
  return it->get<std::string>();
}

}  // namespace

std::filesystem::path network_map_path(const std::filesystem::path& run_dir, std::uint32_t job_id) {
  return run_dir / "jobs" / std::to_string(job_id) / "vms.json";
}

std::optional<VmNetwork> parse_network_map(std::string_view text, std::uint32_t rank,
                                           std::string_view source) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& e) {
    throw Error(fmt::format("{}: not valid JSON: {}", source, e.what()), ErrorKind::config);
  }
  if (!root.is_object() || !root.contains("vms") || !root["vms"].is_object()) {
    throw Error(fmt::format("{}: expected an object with a \"vms\" object", source), ErrorKind::config);
  }
  const json& vms = root["vms"];
  const auto it = vms.find(std::to_string(rank));
  if (it == vms.end()) return std::nullopt;
  const std::string where = fmt::format("{}: vms.\"{}\"", source, rank);
  if (!it->is_object()) throw Error(fmt::format("{}: must be an object", where), ErrorKind::config);

  VmNetwork net;
  net.tap = string_field(*it, "tap", where);
  net.mac = string_field(*it, "mac", where);
  net.ip = string_field(*it, "ip", where);
  net.gateway = string_field(*it, "gateway", where);
  if (!valid_ifname(net.tap)) {
    throw Error(fmt::format("{}: \"tap\" is not an interface name: \"{}\"", where, net.tap), ErrorKind::config);
  }
  if (!valid_mac(net.mac)) {
    throw Error(fmt::format("{}: \"mac\" is not a MAC address: \"{}\"", where, net.mac), ErrorKind::config);
  }
  if (const auto prefix = it->find("prefix"); prefix != it->end() && !prefix->is_null()) {
    if (!prefix->is_number_unsigned() || prefix->get<std::uint64_t>() == 0 || prefix->get<std::uint64_t>() > 32) {
      throw Error(fmt::format("{}: \"prefix\" must be a prefix length 1..32", where), ErrorKind::config);
    }
    net.prefix = static_cast<unsigned>(prefix->get<std::uint64_t>());
  }
  if (const auto mtu = it->find("mtu"); mtu != it->end() && !mtu->is_null()) {
    if (!mtu->is_number_unsigned() || mtu->get<std::uint64_t>() < 576 || mtu->get<std::uint64_t>() > 65535) {
      throw Error(fmt::format("{}: \"mtu\" must be 576..65535", where), ErrorKind::config);
    }
    net.mtu = static_cast<unsigned>(mtu->get<std::uint64_t>());
  }
  if (const auto hosts = root.find("hosts"); hosts != root.end() && hosts->is_object()) {
    for (const auto& [name, addr] : hosts->items()) {
      // Written into the guest's /etc/hosts: names and addresses only, nothing else.
      const bool name_ok = !name.empty() && name.size() <= 63 &&
                           name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos;
      if (!name_ok || !addr.is_string() ||
          addr.get<std::string>().find_first_not_of("0123456789.") != std::string::npos) {
        throw Error(fmt::format("{}: hosts.\"{}\" is not a VM name and an IPv4 address", source, name),
                    ErrorKind::config);
      }
      net.hosts.emplace_back(name, addr.get<std::string>());
    }
  }
  if (const auto port = it->find("ssh_port"); port != it->end() && !port->is_null()) {
    if (!port->is_number_unsigned() || port->get<std::uint64_t>() == 0 || port->get<std::uint64_t>() > 65535) {
      throw Error(fmt::format("{}: \"ssh_port\" must be a port number", where), ErrorKind::config);
    }
    net.ssh_port = static_cast<std::uint16_t>(port->get<std::uint64_t>());
  }
  return net;
}

VmNetwork load_vm_network(const std::filesystem::path& run_dir, std::uint32_t job_id, std::uint32_t rank) {
  const std::filesystem::path path = network_map_path(run_dir, job_id);
  const std::string missing = fmt::format(
      "no network prepared for vm{} on this node ({}): is vm-prolog configured as the job "
      "prolog? see docs/vm-launch.md",
      rank, path.string());
  std::string text;
  try {
    text = read_file(path, 16 * 1024 * 1024);
  } catch (const Error& e) {
    if (e.errnum() == ENOENT) throw Error(missing, ErrorKind::not_found);
    throw;
  }
  auto net = parse_network_map(text, rank, path.string());
  if (!net) throw Error(missing, ErrorKind::not_found);
  return *net;
}

}  // namespace slurmvm::launch
