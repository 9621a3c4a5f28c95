// vms.json (network_map.hpp).
#include "launch/network_map.hpp"

#include <cerrno>

#include <fmt/format.h>

#include "error.hpp"
#include "launch/job_dir.hpp"

namespace slurmvm::launch {

std::optional<VmNetwork> parse_network_map(std::string_view text, std::uint32_t rank,
                                           std::string_view source) {
  const VmsFile file = parse_vms_file(text, source);
  const auto it = file.vms.find(rank);
  if (it == file.vms.end()) return std::nullopt;
  VmNetwork net;
  net.resource_set = it->second.resource_set;
  net.network_id = file.network_id;
  net.nics = it->second.nics;
  net.pci = it->second.pci;
  net.ssh_port = it->second.ssh_port;
  for (const VmNic& nic : net.nics) {
    if (nic.kind == NicKind::l3) {
      net.tap = nic.tap;
      net.mac = nic.mac;
      net.ip = nic.ip;
      net.prefix = nic.prefix;
      net.gateway = nic.gateway;
      net.mtu = nic.mtu;
      break;
    }
  }
  net.hosts.assign(file.hosts.begin(), file.hosts.end());
  return net;
}

VmNetwork load_vm_network(const RunDirLayout& run, std::uint32_t job_id, std::uint32_t rank) {
  const std::filesystem::path path = run.vms_file(job_id);
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
