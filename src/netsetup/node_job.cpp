#include "netsetup/node_job.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "deadline.hpp"
#include "error.hpp"
#include "file_lock.hpp"
#include "file_read.hpp"
#include "private_dir.hpp"
#include "log.hpp"
#include "netsetup/bridge_port.hpp"
#include "netsetup/host_changes.hpp"
#include "netsetup/node_effects.hpp"
#include "netsetup/host_routes.hpp"
#include "netsetup/ifreq_util.hpp"
#include "netsetup/link_group.hpp"
#include "netsetup/ovsdb.hpp"
#include "netsetup/tap.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace slurmvm::netsetup {
namespace {

void write_sysctl(const fs::path& file, const std::string& value) {
  UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) throw Error::from_errno("opening " + file.string(), errno);
  if (::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
    throw Error::from_errno("writing " + value + " to " + file.string(), errno);
  }
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

void set_addr(ifreq& ifr, std::uint32_t ip) { put_ipv4(ifr.ifr_addr, ip); }

const std::string ip_forward_saved = "ip_forward.saved";

}  // namespace

std::string read_small_file(const fs::path& file) { return read_file(file, std::size_t{1} << 20, Symlinks::refuse); }

OpenFlowTarget NodePaths::openflow() const {
  OpenFlowTarget t;
  t.socket = fmt::format("{}/{}.mgmt", fs::path(ovsdb_socket).parent_path().string(), bridge);
  return t;
}

NodePaths node_paths_from_env(const EnvLookup& env) {
  NodePaths p;
  static_cast<RunDirLayout&>(p) = run_dir_layout_from_env(env);
  if (auto v = absolute_path_override(env, "SLURM_VM_SYSCONFDIR")) p.sysconf_dir = *v;
  if (auto v = absolute_path_override(env, "SLURM_VM_OVSDB_SOCKET")) p.ovsdb_socket = v->string();
  return p;
}

void ensure_private_dir(const fs::path& dir, unsigned mode) { make_private_dir(dir.parent_path(), dir, mode); }

NodeLock NodeLock::acquire(const NodePaths& paths, std::chrono::milliseconds timeout) {
  ensure_private_dir(paths.run_dir, 0755);
  const auto file = paths.lock_file();
  UniqueFd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) throw Error::from_errno("opening " + file.string(), errno);
  if (!flock_until(fd.get(), deadline_in(timeout), file.string(), 20ms)) {
    throw Error(fmt::format("{} stayed locked for {} ms (another prolog or epilog hangs?)", file.string(),
                            timeout.count()),
                ErrorKind::timeout);
  }
  return NodeLock(std::move(fd));
}

std::vector<JobState> read_job_states(const NodePaths& paths, std::uint32_t exclude,
                                      std::vector<std::string>* unreadable) {
  std::vector<JobState> out;
  std::error_code ec;
  fs::directory_iterator it(paths.state_dir(), ec);
  if (ec) return out;  // no directory: no jobs
  for (const auto& entry : it) {
    const auto name = entry.path().filename().string();
    if (name.size() < 6 || name.substr(name.size() - 5) != ".json" || name[0] == '.') continue;
    const auto stem = name.substr(0, name.size() - 5);
    if (stem.find_first_not_of("0123456789") != std::string::npos) continue;
    try {
      auto s = parse_job_state(read_small_file(entry.path()), entry.path().string());
      if (s.job_id != exclude) out.push_back(std::move(s));
    } catch (const Error& e) {
      log_warning("ignoring {}: {}", entry.path().string(), e.what());
      if (unreadable != nullptr) unreadable->push_back(entry.path().string());
    }
  }
  return out;
}

NodeTable node_table(const NodePaths& paths, std::uint32_t exclude, const std::vector<BridgedPort>& pending) {
  NodeTable t;
  std::vector<std::string> unreadable;
  for (const auto& s : read_job_states(paths, exclude, &unreadable)) {
    t.reverse_nat.insert(t.reverse_nat.end(), s.nat.begin(), s.nat.end());
    if (s.network_id != 0) ++t.vm_jobs;  // 0: the job has no VM on this node
    if (s.outbound) t.outbound.push_back(*s.outbound);
    if (s.owner) t.owners.push_back({s.job_id, *s.owner});
    if (s.dns) t.dns.push_back(*s.dns);
    t.bridged.insert(t.bridged.end(), s.bridged.begin(), s.bridged.end());
  }
  // A record that does not parse would take its job's filters out of the table while its VMs
  // run: fail instead (a node fault an admin looks at).
  if (!unreadable.empty()) {
    throw Error(fmt::format("cannot rebuild table ip {} without the unreadable job record {}", kNatTable,
                            unreadable.front()),
                ErrorKind::config);
  }
  t.bridged.insert(t.bridged.end(), pending.begin(), pending.end());
  // Forwarding was off before the first job turned it on: route the VMs' traffic only, for as
  // long as forwarding is slurm-vm's (the table then stays even between jobs).
  const auto saved = paths.state_dir() / ip_forward_saved;
  if (::access(saved.c_str(), F_OK) == 0) t.forward_only_vms = trim(read_small_file(saved)) == "0";
  if (t.vm_jobs > 0) t.node_networks = node_networks(host_ipv4_addresses());
  return t;
}

void sync_nat(const NodePaths& paths, std::uint32_t exclude, const std::vector<BridgedPort>& pending) {
  apply_nat_table(node_table(paths, exclude, pending));
}

void save_ip_forward(const NodePaths& paths) {
  const auto saved = paths.state_dir() / ip_forward_saved;
  if (::access(saved.c_str(), F_OK) != 0) {
    write_file_atomic(saved, trim(read_small_file(paths.ip_forward_sysctl)) + "\n", 0600);
  }
}

void enable_ip_forward(const NodePaths& paths) {
  const auto current = trim(read_small_file(paths.ip_forward_sysctl));
  if (current == "1") return;
  // The caller rebuilt the table after save_ip_forward: the forward chain's last rule, a drop
  // while the saved value is 0, is in place before the node routes anything.
  const auto saved = paths.state_dir() / ip_forward_saved;
  if (::access(saved.c_str(), F_OK) != 0) {
    throw Error("enabling IPv4 forwarding before its value was saved", ErrorKind::internal);
  }
  write_sysctl(paths.ip_forward_sysctl, "1");
  log_info("enabled IPv4 forwarding (was {})", current);
}

bool release_ip_forward(const NodePaths& paths, std::uint32_t job_id) {
  for (const auto other : list_ledgers(paths.ledger_dir())) {
    if (other == job_id) continue;
    try {
      for (const auto& e : read_ledger(ledger_path(paths.ledger_dir(), other)).entries) {
        if (e.action.value("op", "") == change::IpForward::op) return false;  // still needed
      }
    } catch (const Error&) {
      return false;  // unreadable: assume it is needed, keeping forwarding on is the safe side
    }
  }
  const auto saved = paths.state_dir() / ip_forward_saved;
  if (::access(saved.c_str(), F_OK) != 0) return false;  // restored already
  const auto value = trim(read_small_file(saved));
  if (value != "0" && value != "1") {
    throw Error(fmt::format("{} holds \"{}\", not 0 or 1", saved.string(), value),
                ErrorKind::config);
  }
  write_sysctl(paths.ip_forward_sysctl, value);
  if (::unlink(saved.c_str()) != 0 && errno != ENOENT) {
    throw Error::from_errno("removing " + saved.string(), errno);
  }
  log_info("restored IPv4 forwarding to {}", value);
  return true;
}

void set_interface_ipv4(const std::string& ifname, std::uint32_t ip, unsigned prefix) {
  if (prefix == 0 || prefix > 32) throw Error(fmt::format("bad prefix /{}", prefix));
  auto s = inet_socket();
  ifreq ifr = ifreq_for(ifname);
  set_addr(ifr, ip);
  if (::ioctl(s.get(), SIOCSIFADDR, &ifr) != 0) {
    throw Error::from_errno(fmt::format("SIOCSIFADDR {} on {}", format_ipv4(ip), ifname), errno);
  }
  ifr = ifreq_for(ifname);
  set_addr(ifr, prefix == 32 ? 0xffffffffU : ~((1U << (32 - prefix)) - 1));
  if (::ioctl(s.get(), SIOCSIFNETMASK, &ifr) != 0) {
    throw Error::from_errno(fmt::format("SIOCSIFNETMASK /{} on {}", prefix, ifname), errno);
  }
  ifr = ifreq_for(ifname);
  if (::ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0) {
    throw Error::from_errno("SIOCGIFFLAGS " + ifname, errno);
  }
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) != 0) {
    throw Error::from_errno("SIOCSIFFLAGS up " + ifname, errno);
  }
}

void clear_interface_ipv4(const std::string& ifname) {
  if (!interface_exists(ifname)) return;
  auto s = inet_socket();
  ifreq ifr = ifreq_for(ifname);
  set_addr(ifr, 0);
  // Setting 0.0.0.0 deletes the address; ENODEV: the port went away meanwhile.
  if (::ioctl(s.get(), SIOCSIFADDR, &ifr) != 0 && errno != ENODEV) {
    throw Error::from_errno("removing the IPv4 address of " + ifname, errno);
  }
}

void wait_for_interface(const std::string& ifname, std::chrono::milliseconds timeout) {
  PollBackoff backoff(deadline_in(timeout));
  while (!interface_exists(ifname)) {
    if (!backoff.pause()) {
      throw Error(fmt::format("ovs-vswitchd did not create interface {} within {} ms", ifname,
                              timeout.count()),
                  ErrorKind::timeout);
    }
  }
}

UndoReport clean_job(const NodePaths& paths, std::uint32_t job_id) {
  RealNodeEffects fx(paths);
  UndoReport report = undo_ledger(paths.ledger_dir(), job_id, change_undo_handlers(fx, paths, job_id),
                                  std::chrono::seconds(10), [&] { fx.settle(); });
  if (!report.ok()) return report;
  fx.remove_tree(paths.job_dir(job_id));
  fx.remove_file(paths.state_file(job_id));
  fx.remove_file(paths.flows_file(job_id));
  return report;
}

std::set<std::uint32_t> jobs_with_leftovers(const NodePaths& paths) {
  std::set<std::uint32_t> ids;
  // ledger/<id>.jsonl, state/<id>.json and jobs/<id>: a name that is not a valid job id
  // (parse_job_id: no 0, no leading zero) is not ours to judge.
  const auto add_named = [&ids](const fs::path& dir, std::string_view suffix) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      std::string name = entry.path().filename().string();
      if (!name.ends_with(suffix)) continue;
      name.resize(name.size() - suffix.size());
      try {
        ids.insert(parse_job_id(name));
      } catch (const Error&) {
        // A temporary file of an atomic write, or something an admin put there.
      }
    }
  };
  add_named(paths.ledger_dir(), ".jsonl");
  add_named(paths.state_dir(), ".json");
  add_named(paths.jobs_dir(), "");
  return ids;
}

}  // namespace slurmvm::netsetup
