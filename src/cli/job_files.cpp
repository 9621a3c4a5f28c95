#include "job_files.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "atomic_file.hpp"
#include "error.hpp"
#include "job_names.hpp"
#include "log.hpp"
#include "file_read.hpp"
#include "private_dir.hpp"
#include "vm_set.hpp"
#include "unique_fd.hpp"

namespace slurmvm::cli {
namespace {

// cluster.json and vm.json: a few KiB (cluster.json of a 4092-VM cluster: about 100 KiB).
constexpr std::size_t kMaxJobFileBytes = 16 << 20;

nlohmann::json parse_json(const std::filesystem::path& path, const std::string& text) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{} is not valid JSON: {}", path.string(), e.what()), ErrorKind::system);
  }
}

}  // namespace

std::vector<std::string> ClusterFile::step_options(const std::string& node) const {
  std::vector<std::string> out = {fmt::format("--jobid={}", job_id)};
  if (const auto it = node_components.find(node); it != node_components.end()) {
    out.push_back(fmt::format("--het-group={}", it->second));
  }
  return out;
}

JobDir::JobDir(std::filesystem::path home, std::uint32_t job_id)
    : home_(home), path_(user_job_dir(home, job_id)), job_id_(job_id) {}

std::filesystem::path JobDir::vm_dir(std::uint32_t rank) const { return path_ / fmt::format("vm{}", rank); }

void JobDir::create() const { make_private_dir(home_, path_); }

void write_file_atomically(const std::filesystem::path& path, const std::string& content) {
  write_file_atomic(path, content, 0600, {}, Durability::flushed);
}

void JobDir::write_cluster(const ClusterFile& c) const {
  const nlohmann::json j = {{"job_id", c.job_id},           {"definition", c.definition},
                            {"nodes", c.nodes},             {"cpus_per_vm", c.cpus_per_vm},
                            {"node_of_vm", c.node_of_vm}};
  nlohmann::json out = j;
  if (!c.node_components.empty()) out["node_components"] = c.node_components;
  write_file_atomically(path_ / "cluster.json", out.dump(2) + "\n");
}

ClusterFile JobDir::read_cluster() const {
  const auto file = path_ / "cluster.json";
  const auto text = read_file_if_exists(file, kMaxJobFileBytes);
  if (!text) {
    throw Error(fmt::format("job {} has no virtual cluster ({} is missing): was it started with `vm alloc`, "
                            "`vm batch` or `vm boot`, and by you?",
                            job_id_, file.string()),
                ErrorKind::not_found);
  }
  const auto j = parse_json(file, *text);
  try {
    ClusterFile c;
    c.job_id = j.at("job_id").get<std::uint32_t>();
    c.definition = j.at("definition").get<std::string>();
    c.nodes = j.at("nodes").get<std::vector<std::string>>();
    c.cpus_per_vm = j.at("cpus_per_vm").get<std::uint32_t>();
    c.node_of_vm = j.at("node_of_vm").get<std::vector<std::uint32_t>>();
    c.node_components = j.value("node_components", std::map<std::string, std::uint32_t>{});
    return c;
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: {}", file.string(), e.what()), ErrorKind::system);
  }
}

std::optional<VmFile> JobDir::read_vm(std::uint32_t rank) const {
  const auto file = vm_dir(rank) / "vm.json";
  const auto text = read_file_if_exists(file, kMaxJobFileBytes);
  if (!text) return std::nullopt;
  VmFile vm;
  static_cast<VmRecord&>(vm) = parse_vm_record(*text, file.string());
  vm.disk = vm_dir(rank) / "disk.qcow2";
  return vm;
}

void JobDir::write_ssh_files(const std::vector<VmFile>& vms) const {
  std::string known, config;
  config += "# Written by vm boot for job " + std::to_string(job_id_) + ": one entry per VM.\n";
  for (const auto& vm : vms) {
    if (!vm.host_key_pub.empty()) known += fmt::format("{} {}\n", vm.name, vm.host_key_pub);
    if (!vm.ssh_port) continue;
    // The VM is reached through its node's reverse NAT; the host key is checked against the
    // key vm-launch generated for it, under the VM's own name (HostKeyAlias), never skipped.
    // ConnectTimeout: the node's NAT rule outlives a VM whose QEMU died without its step
    // noticing (slurmstepd killed): its SYNs are dropped, and without a limit ssh retried for
    // ~2 min (tcp_syn_retries) before it failed (found by bench/soak, fault stepd-kill).
    config += fmt::format(
        "Host {}\n  HostName {}\n  Port {}\n  User root\n  HostKeyAlias {}\n  UserKnownHostsFile {}\n"
        "  StrictHostKeyChecking yes\n  CheckHostIP no\n  LogLevel ERROR\n  ConnectTimeout 30\n",
        vm.name, vm.node, *vm.ssh_port, vm.name, known_hosts().string());
  }
  // The user's own settings (identities, agent) still apply to everything else.
  config += "Host *\n  Include ~/.ssh/config\n";
  write_file_atomically(known_hosts(), known);
  write_file_atomically(ssh_config(), config);
}

std::uint32_t resolve_job_id(std::uint32_t option_job_id) {
  if (option_job_id != 0) return option_job_id;
  if (const char* env = std::getenv("SLURM_JOB_ID")) {
    std::uint32_t id = 0;
    const std::string_view s(env);
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
    if (ec == std::errc() && end == s.data() + s.size() && id != 0) return id;
  }
  throw Error("no job given: use -j JOBID, or run this inside `vm alloc` or a batch job", ErrorKind::usage);
}

std::string user_name() {
  const passwd* pw = ::getpwuid(::getuid());
  if (pw == nullptr) throw Error(fmt::format("uid {} has no passwd entry", ::getuid()), ErrorKind::system);
  return pw->pw_name;
}

JobDir selected_job_dir(const JobSelection& selection) {
  const std::uint32_t id = resolve_job(selection);
  return JobDir(home_directory(), id);  // after resolve_job: the owner's home
}

std::filesystem::path home_directory() {
  if (const char* home = std::getenv("HOME"); home != nullptr && home[0] == '/') return home;
  if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_dir != nullptr) return pw->pw_dir;
  throw Error("cannot find your home directory: set HOME", ErrorKind::system);
}

std::uintmax_t JobDir::remove_vm_runtime_files(std::uint32_t count) const {
  std::uintmax_t freed = 0;
  for (std::uint32_t r = 0; r < count; ++r) {
    const auto dir = vm_dir(r);
    for (const char* name : {"disk.qcow2", "seed.iso", "seed", "qmp.sock", "console.sock", "qga.sock",
                             "ssh_host_ed25519_key", "ssh_host_ed25519_key.pub"}) {
      const auto p = dir / name;
      std::error_code ec;
      const auto st = std::filesystem::symlink_status(p, ec);
      if (ec || !std::filesystem::exists(st)) continue;
      if (std::filesystem::is_regular_file(st)) freed += std::filesystem::file_size(p, ec);
      std::filesystem::remove_all(p, ec);
      if (ec) log_warning("cannot remove {}: {}", p.string(), ec.message());
    }
  }
  return freed;
}

VmFile require_vm(const JobDir& dir, std::uint32_t rank) {
  if (auto vm = dir.read_vm(rank)) return *vm;
  throw Error(fmt::format("vm{} of job {} has not started (no {}): wait for `vm list` to show it", rank,
                          dir.job_id(), (dir.vm_dir(rank) / "vm.json").string()),
              ErrorKind::not_found);
}

OneVm find_one_vm(const JobSelection& job, const std::string& vm_text, std::string_view verb) {
  JobDir dir = selected_job_dir(job);
  ClusterFile cluster = dir.read_cluster();
  const auto ranks = parse_vm_set(vm_text, static_cast<std::uint32_t>(cluster.node_of_vm.size()));
  if (ranks.size() != 1) throw Error(fmt::format("vm {} takes one VM (vm0, vm1, ...)", verb), ErrorKind::usage);
  VmFile vm = require_vm(dir, ranks[0]);
  return {std::move(dir), std::move(cluster), std::move(vm)};
}

std::uint32_t parse_vm_name(const std::string& name) {
  std::uint32_t rank = 0;
  if (name.size() > 2 && name.starts_with("vm")) {
    const char* b = name.data() + 2;
    const char* e = name.data() + name.size();
    auto [end, ec] = std::from_chars(b, e, rank);
    if (ec == std::errc() && end == e && (name.size() == 3 || name[2] != '0')) return rank;
  }
  throw Error(fmt::format("\"{}\" is not a VM name: expected vm0, vm1, ...", name), ErrorKind::usage);
}

}  // namespace slurmvm::cli
