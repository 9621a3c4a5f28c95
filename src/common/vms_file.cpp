// vms.json (vms_file.hpp).
#include "vms_file.hpp"

#include <charconv>

#include <fmt/format.h>

#include "config/net_addresses.hpp"
#include "error.hpp"

namespace slurmvm {
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

[[noreturn]] void bad(const std::string& where, const std::string& what) {
  throw Error(fmt::format("{}: {}", where, what), ErrorKind::config);
}

std::string string_field(const json& entry, const char* key, const std::string& where) {
  const auto it = entry.find(key);
  if (it == entry.end() || it->is_null()) return {};
  if (!it->is_string()) bad(where, fmt::format("\"{}\" must be a string", key));
  return it->get<std::string>();
}

// An unsigned number in [min, max], or nullopt when absent or null.
std::optional<std::uint64_t> number_field(const json& entry, const char* key, std::uint64_t min, std::uint64_t max,
                                          const std::string& where, const std::string& expected) {
  const auto it = entry.find(key);
  if (it == entry.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_unsigned() || it->get<std::uint64_t>() < min || it->get<std::uint64_t>() > max) {
    bad(where, fmt::format("\"{}\" must be {}", key, expected));
  }
  return it->get<std::uint64_t>();
}

VmsNic parse_nic(const json& entry, const std::string& where) {
  if (!entry.is_object()) bad(where, "must be an object");
  VmsNic nic;
  nic.network = string_field(entry, "network", where);
  const std::string kind = string_field(entry, "kind", where);
  if (kind == "L3") {
    nic.kind = NicKind::l3;
  } else if (kind == "L2") {
    nic.kind = NicKind::l2;
  } else if (kind == "bridged") {
    nic.kind = NicKind::bridged;
  } else {
    bad(where, "\"kind\" must be L3, L2 or bridged");
  }
  nic.tap = string_field(entry, "tap", where);
  nic.mac = string_field(entry, "mac", where);
  nic.ip = string_field(entry, "ip", where);
  nic.gateway = string_field(entry, "gateway", where);
  if (!valid_ifname(nic.tap)) bad(where, fmt::format("\"tap\" is not an interface name: \"{}\"", nic.tap));
  if (!valid_mac(nic.mac)) bad(where, fmt::format("\"mac\" is not a MAC address: \"{}\"", nic.mac));
  // Written into the seed's network-config: addresses only.
  for (const std::string* addr : {&nic.ip, &nic.gateway}) {
    if (addr->find_first_not_of("0123456789.") != std::string::npos) {
      bad(where, fmt::format("\"{}\" is not an IPv4 address", *addr));
    }
  }
  if (const auto p = number_field(entry, "prefix", 1, 32, where, "a prefix length 1..32")) {
    nic.prefix = static_cast<unsigned>(*p);
  }
  if (const auto m = number_field(entry, "mtu", 576, 65535, where, "576..65535")) nic.mtu = static_cast<unsigned>(*m);
  return nic;
}

VmsPciDevice parse_pci(const json& entry, const std::string& where) {
  if (!entry.is_object()) bad(where, "must be an object");
  VmsPciDevice d{string_field(entry, "network", where), string_field(entry, "host", where)};
  // Goes into QEMU's option string: a full, canonical address and nothing else.
  const auto addr = config::parse_pci_address(d.bdf);
  if (!addr || !addr->function || addr->str() != d.bdf) {
    bad(where, fmt::format("\"host\" is not a PCI function address: \"{}\"", d.bdf.substr(0, 64)));
  }
  return d;
}

VmsEntry parse_entry(const json& entry, const std::string& where) {
  if (!entry.is_object()) bad(where, "must be an object");
  VmsEntry e;
  e.resource_set = string_field(entry, "resource_set", where);
  const auto nics = entry.find("nics");
  if (nics == entry.end() || !nics->is_array()) bad(where, "\"nics\" must be a list");
  if (nics->size() > 16) bad(where, "more than 16 NICs");
  for (std::size_t i = 0; i < nics->size(); ++i) {
    e.nics.push_back(parse_nic((*nics)[i], fmt::format("{}.nics[{}]", where, i)));
  }
  if (const auto pci = entry.find("pci"); pci != entry.end()) {
    if (!pci->is_array() || pci->size() > 16) bad(where, "\"pci\" must be a list of at most 16 devices");
    for (std::size_t i = 0; i < pci->size(); ++i) {
      e.pci.push_back(parse_pci((*pci)[i], fmt::format("{}.pci[{}]", where, i)));
    }
  }
  if (const auto port = number_field(entry, "ssh_port", 1, 65535, where, "a port number")) {
    e.ssh_port = static_cast<std::uint16_t>(*port);
  }
  return e;
}

}  // namespace

std::string_view to_string(NicKind kind) noexcept {
  switch (kind) {
    case NicKind::l3: return "L3";
    case NicKind::l2: return "L2";
    case NicKind::bridged: return "bridged";
  }
  return "?";
}

json to_json(const VmsFile& file) {
  json vms = json::object();
  for (const auto& [rank, entry] : file.vms) {
    json nics = json::array();
    for (const auto& nic : entry.nics) {
      json n = {{"network", nic.network}, {"kind", to_string(nic.kind)}, {"tap", nic.tap}, {"mac", nic.mac}};
      if (nic.mtu) n["mtu"] = *nic.mtu;
      if (!nic.ip.empty()) n["ip"] = nic.ip;
      if (nic.prefix != 0) n["prefix"] = nic.prefix;
      if (!nic.gateway.empty()) n["gateway"] = nic.gateway;
      nics.push_back(std::move(n));
    }
    json e = {{"resource_set", entry.resource_set}, {"nics", std::move(nics)}};
    if (!entry.pci.empty()) {
      json pci = json::array();
      for (const auto& d : entry.pci) pci.push_back({{"network", d.network}, {"host", d.bdf}});
      e["pci"] = std::move(pci);
    }
    if (entry.ssh_port) e["ssh_port"] = *entry.ssh_port;
    vms[std::to_string(rank)] = std::move(e);
  }
  return {{"network_id", file.network_id}, {"vms", std::move(vms)}, {"hosts", file.hosts}};
}

VmsFile parse_vms_file(std::string_view text, std::string_view source) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::exception& e) {  // not only parse_error: a number too large is out_of_range (406)
    throw Error(fmt::format("{}: not valid JSON: {}", source, e.what()), ErrorKind::config);
  }
  if (!root.is_object() || !root.contains("vms") || !root["vms"].is_object()) {
    throw Error(fmt::format("{}: expected an object with a \"vms\" object", source), ErrorKind::config);
  }
  VmsFile file;
  if (const auto id = number_field(root, "network_id", 0, 0xffffffff, std::string(source), "a network id")) {
    file.network_id = static_cast<std::uint32_t>(*id);
  }
  for (const auto& [key, entry] : root["vms"].items()) {
    std::uint32_t rank = 0;
    const auto [ptr, ec] = std::from_chars(key.data(), key.data() + key.size(), rank);
    if (ec != std::errc{} || ptr != key.data() + key.size() || key.empty() || (key.size() > 1 && key[0] == '0')) {
      throw Error(fmt::format("{}: vms.\"{}\" is not a VM rank", source, key), ErrorKind::config);
    }
    file.vms.emplace(rank, parse_entry(entry, fmt::format("{}: vms.\"{}\"", source, key)));
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
      file.hosts.emplace(name, addr.get<std::string>());
    }
  }
  return file;
}

}  // namespace slurmvm
