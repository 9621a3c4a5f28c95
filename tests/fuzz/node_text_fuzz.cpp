// Text and bytes the helpers read from the node's kernel and files: /proc/net/{tcp,udp},
// /proc/<pid>/stat, nsswitch.conf, squeue's output, sock_diag and nf_tables netlink answers.
// The first byte picks the reader.
#include "fuzz_input.hpp"
#include "netsetup/nat.hpp"
#include "netsetup/nftables_netlink.hpp"
#include "netsetup/nss_local_files.hpp"
#include "netsetup/reclaim.hpp"
#include "netsetup/sock_diag.hpp"
#include "netsetup/dnsmasq_jail.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto text = slurmvm::fuzz::as_text(data + 1, size - 1);
  const std::span<const unsigned char> bytes(data + 1, size - 1);
  using slurmvm::fuzz::expect_parsed_or_refused;
  namespace ns = slurmvm::netsetup;
  switch (data[0] % 7) {
    case 0: (void)ns::parse_listening_ports(text); break;
    case 1: (void)ns::parse_listening_ports(text, ns::kUdpBound); break;
    case 2: (void)ns::nsswitch_services(text, "passwd"); break;
    case 3: expect_parsed_or_refused([&] { (void)ns::parse_inet_diag_ports(bytes); }); break;
    case 4: (void)ns::batch_outcome(bytes, 1, 4); break;
    case 5: expect_parsed_or_refused([&] { (void)ns::parse_live_jobs(text); }); break;
    default: (void)ns::parse_proc_start_time(text); break;
  }
  return 0;
}
