// The passthrough network types' settings (network_passthrough.hpp).
#include "config/network_passthrough.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "config/names.hpp"
#include "config/net_addresses.hpp"

namespace slurmvm::config {
namespace {

// The default partition 0x7fff holds every port: handing it to a job would isolate nothing.
constexpr std::uint16_t kMaxPkey = 0x7ffe;

std::uint16_t read_pkey(const Value& v) {
  auto key = parse_pkey(v.as_string());
  if (!key || *key == 0 || *key > kMaxPkey) {
    v.fail_expected("a partition key between 0x0001 and 0x7ffe, written \"0xNNNN\"");
  }
  return *key;
}

}  // namespace

InfinibandNetwork read_infiniband_settings(Mapping& s) {
  InfinibandNetwork n;
  n.host_device = as_sysfs_name(s.require("host-device"));
  n.min_pkey = read_pkey(s.require("min-pkey"));
  const Value max = s.require("max-pkey");
  n.max_pkey = read_pkey(max);
  n.opensm_daemon = s.require("opensm-daemon").as_nonempty_string();
  n.opensm_partition_cfg = s.require("opensm-partition-cfg").as_absolute_path();
  n.opensm_partition_tpl = s.require("opensm-partition-tpl").as_absolute_path();
  if (auto v = s.get("license")) n.license = v->as_nonempty_string();
  s.reject_unknown_keys();
  if (n.min_pkey > n.max_pkey) {
    max.fail(fmt::format("{:#06x} is below min-pkey {:#06x}", n.max_pkey, n.min_pkey));
  }
  return n;
}

HostInfinibandNetwork read_host_infiniband_settings(Mapping& s) {
  HostInfinibandNetwork n;
  n.host_device = as_sysfs_name(s.require("host-device"));
  s.reject_unknown_keys();
  return n;
}

GenericPciNetwork read_generic_pci_settings(Mapping& s) {
  GenericPciNetwork n;
  const Value addrs = s.require("host-device-addrs");
  for (const Value& item : addrs.as_list()) {
    auto addr = parse_pci_address(item.as_string());
    if (!addr) item.fail_expected("a PCI address ([DDDD:]BB:SS[.F])");
    if (std::find(n.host_device_addrs.begin(), n.host_device_addrs.end(), *addr) !=
        n.host_device_addrs.end()) {
      item.fail("this device is listed twice");
    }
    n.host_device_addrs.push_back(*addr);
  }
  if (n.host_device_addrs.empty()) addrs.fail_expected("a non-empty list of PCI addresses");
  n.host_driver = as_sysfs_name(s.require("host-driver"));
  s.reject_unknown_keys();
  return n;
}

}  // namespace slurmvm::config
