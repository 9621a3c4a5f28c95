// One dnsmasq per job per node (dnsmasq.hpp).
#include "netsetup/dnsmasq.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "config/net_addresses.hpp"
#include "error.hpp"
#include "log.hpp"
#include "netsetup/node_job.hpp"
#include "unique_fd.hpp"

namespace slurmvm::netsetup {
namespace {

// A DNS name as a site writes one: labels of [A-Za-z0-9-], not starting or ending with '-'.
void validate_dns_name(const std::string& what, const std::string& name) {
  bool ok = !name.empty() && name.size() <= 253 && name.front() != '.' && name.back() != '.';
  std::size_t label = 0;
  for (std::size_t i = 0; ok && i < name.size(); ++i) {
    const char c = name[i];
    if (c == '.') {
      ok = label > 0 && name[i - 1] != '-';
      label = 0;
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-') {
      ok = !(label == 0 && c == '-') && ++label <= 63;
    } else {
      ok = false;
    }
  }
  if (!ok) throw Error(fmt::format("{} '{}' is not a DNS name", what, name), ErrorKind::config);
}

std::string ipv4_of(const std::string& what, const std::string& text) {
  const auto ip = config::parse_ipv4(text);
  if (!ip) throw Error(fmt::format("{} '{}' is not an IPv4 address", what, text), ErrorKind::config);
  return format_ipv4(*ip);
}

std::string netmask(unsigned prefix) {
  return format_ipv4(prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix));
}

// The file's text, or "" when it cannot be read (a process that just ended).
std::string text_or_empty(const std::filesystem::path& p) {
  try {
    return read_small_file(p);
  } catch (const Error&) {
    return {};
  }
}

}  // namespace

std::vector<std::string> dnsmasq_argv(const DnsmasqConfig& cfg) {
  const std::string gw = format_ipv4(cfg.gateway_ip);
  const std::string self = format_ipv4(cfg.server_ip);
  std::vector<std::string> a = {
      cfg.program,
      "--conf-file=/dev/null",  // nothing from /etc/dnsmasq.conf or /etc/dnsmasq.d
      "--keep-in-foreground",
      "--pid-file",  // none: its jail started it and knows its pid
      // The jail's root is the node's nobody: there is no one lower to change to, and changing
      // to "nobody" would need that id mapped in the jail.
      "--user=root",
      "--group=root",
      std::string("--interface=") + kDnsmasqInterface,
      "--except-interface=lo",
      "--bind-interfaces",
      "--no-hosts",  // the node's /etc/hosts is not the VMs' business
      "--no-poll",
      "--leasefile-ro",
      "--dhcp-authoritative",
      "--quiet-dhcp",
      // Every address is a static lease nobody else holds: no ICMP probe before handing one
      // out.
      "--no-ping",
      // Static leases only: an address nobody planned is never handed out.
      fmt::format("--dhcp-range={},static,{},infinite", format_ipv4(cfg.subnet.address), netmask(cfg.subnet.prefix)),
      "--dhcp-option=option:router," + gw,
      "--dhcp-option=option:dns-server," + self,
      fmt::format("--dhcp-option=option:mtu,{}", cfg.mtu),
  };
  if (cfg.ntp_server) a.push_back("--dhcp-option=option:ntp-server," + ipv4_of("ntp-server", *cfg.ntp_server));
  // Never the node's resolv.conf: the site's dns-server, if any, gets the other names;
  // without one only the job's names are answered.
  a.push_back("--no-resolv");
  if (cfg.upstream_dns) a.push_back("--server=" + ipv4_of("dns-server", *cfg.upstream_dns));
  if (cfg.domain) {
    validate_dns_name("domain-name", *cfg.domain);
    a.push_back("--domain=" + *cfg.domain);
    a.push_back(fmt::format("--local=/{}/", *cfg.domain));
  }
  if (cfg.dns_search) {
    validate_dns_name("dns-search", *cfg.dns_search);
    a.push_back("--dhcp-option=option:domain-search," + *cfg.dns_search);
  }
  for (const auto& h : cfg.hosts) {
    validate_dns_name("VM name", h.name);
    const std::string ip = format_ipv4(h.ip);
    a.push_back(cfg.domain ? fmt::format("--host-record={},{}.{},{}", h.name, h.name, *cfg.domain, ip)
                           : fmt::format("--host-record={},{}", h.name, ip));
    if (h.mac) a.push_back(fmt::format("--dhcp-host={},{},{},infinite", format_mac(*h.mac), ip, h.name));
  }
  return a;
}

void stop_legacy_dnsmasq(const std::filesystem::path& pid_file, std::chrono::milliseconds grace) {
  std::error_code ec;
  if (!std::filesystem::exists(pid_file, ec)) return;
  const std::string text = text_or_empty(pid_file);
  long pid = 0;
  try {
    pid = std::stol(text);
  } catch (const std::exception&) {
    pid = 0;
  }
  if (pid > 1) {
    // Only our instance: its command line names this pid file.
    std::string cmdline = text_or_empty(fmt::format("/proc/{}/cmdline", pid));
    for (auto& ch : cmdline) ch = (ch == '\0') ? ' ' : ch;
    if (cmdline.find("--pid-file=" + pid_file.string()) != std::string::npos) {
      UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0)));
      if (pidfd && ::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGTERM, nullptr, 0) == 0) {
        pollfd p{pidfd.get(), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(grace.count())) == 0) {
          log_warning("dnsmasq {} did not stop within {} ms of SIGTERM: killing it", pid, grace.count());
          ::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
          ::poll(&p, 1, 2000);
        }
      }
    }
  }
  if (::unlink(pid_file.c_str()) != 0 && errno != ENOENT) {
    throw Error::from_errno("removing " + pid_file.string(), errno);
  }
}

}  // namespace slurmvm::netsetup
