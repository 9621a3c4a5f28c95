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

VmNic parse_nic(const json& entry, const std::string& where) {
  if (!entry.is_object()) throw Error(fmt::format("{}: must be an object", where), ErrorKind::config);
  VmNic nic;
  nic.network = string_field(entry, "network", where);
  const std::string kind = string_field(entry, "kind", where);
  if (kind == "L3") {
    nic.kind = NicKind::l3;
  } else if (kind == "L2") {
    nic.kind = NicKind::l2;
  } else if (kind == "bridged") {
    nic.kind = NicKind::bridged;
  } else {
    throw Error(fmt::format("{}: \"kind\" must be L3, L2 or bridged", where), ErrorKind::config);
  }
  nic.tap = string_field(entry, "tap", where);
  nic.mac = string_field(entry, "mac", where);
  nic.ip = string_field(entry, "ip", where);
  nic.gateway = string_field(entry, "gateway", where);
  if (!valid_ifname(nic.tap)) {
    throw Error(fmt::format("{}: \"tap\" is not an interface name: \"{}\"", where, nic.tap), ErrorKind::config);
  }
  if (!valid_mac(nic.mac)) {
    throw Error(fmt::format("{}: \"mac\" is not a MAC address: \"{}\"", where, nic.mac), ErrorKind::config);
  }
  // Written into the seed's network-config: addresses only.
  for (const std::string* addr : {&nic.ip, &nic.gateway}) {
    if (addr->find_first_not_of("0123456789.") != std::string::npos) {
      throw Error(fmt::format("{}: \"{}\" is not an IPv4 address", where, *addr), ErrorKind::config);
    }
  }
  if (const auto prefix = entry.find("prefix"); prefix != entry.end() && !prefix->is_null()) {
    if (!prefix->is_number_unsigned() || prefix->get<std::uint64_t>() == 0 || prefix->get<std::uint64_t>() > 32) {
      throw Error(fmt::format("{}: \"prefix\" must be a prefix length 1..32", where), ErrorKind::config);
    }
    nic.prefix = static_cast<unsigned>(prefix->get<std::uint64_t>());
  }
  if (const auto mtu = entry.find("mtu"); mtu != entry.end() && !mtu->is_null()) {
    if (!mtu->is_number_unsigned() || mtu->get<std::uint64_t>() < 576 || mtu->get<std::uint64_t>() > 65535) {
      throw Error(fmt::format("{}: \"mtu\" must be 576..65535", where), ErrorKind::config);
    }
    nic.mtu = static_cast<unsigned>(mtu->get<std::uint64_t>());
  }
  return nic;
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
  net.resource_set = string_field(*it, "resource_set", where);
  const auto nics = it->find("nics");
  if (nics == it->end() || !nics->is_array()) {
    throw Error(fmt::format("{}: \"nics\" must be a list", where), ErrorKind::config);
  }
  if (nics->size() > 16) throw Error(fmt::format("{}: more than 16 NICs", where), ErrorKind::config);
  for (std::size_t i = 0; i < nics->size(); ++i) {
    net.nics.push_back(parse_nic((*nics)[i], fmt::format("{}.nics[{}]", where, i)));
    const VmNic& nic = net.nics.back();
    if (nic.kind == NicKind::l3 && net.tap.empty()) {
      net.tap = nic.tap;
      net.mac = nic.mac;
      net.ip = nic.ip;
      net.prefix = nic.prefix;
      net.gateway = nic.gateway;
      net.mtu = nic.mtu;
    }
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
