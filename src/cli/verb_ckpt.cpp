// `vm ckpt [-j JOBID|-J NAME] [-F] [--timeout S] DIR`: the whole virtual cluster into the
// checkpoint directory DIR (checkpoint.hpp), then the cluster stops, as pcocc's ckpt. Every VM
// is paused at once (one srun step over the job's nodes), each one's disk layer and memory are
// written while all are paused, checkpoint.json last, and the directory is renamed into place:
// an interrupted or failed checkpoint leaves no DIR, resumes the VMs, and never replaces a
// good checkpoint (-F replaces one only with another complete one). `vm alloc -r DIR` and
// `vm batch -r DIR` restore the cluster with the same definition, names and addresses.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <ctime>
#include <iostream>
#include <map>
#include <set>

#include <fmt/format.h>

#include "checkpoint.hpp"
#include "checkpoint_node.hpp"
#include "error.hpp"
#include "file_read.hpp"
#include "job_files.hpp"
#include "job_selection.hpp"
#include "log.hpp"
#include "on_node.hpp"
#include "programs.hpp"
#include "resolved_cluster.hpp"
#include "atomic_file.hpp"
#include "subprocess.hpp"
#include "utc_time.hpp"
#include "verb.hpp"

namespace slurmvm::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Ctrl-C, a hangup or SIGTERM (vm boot stopping the script that runs vm ckpt) must not leave the
// VMs paused and a partial directory behind: the signal is noted, the current phase (an srun
// in a process group of its own) finishes, and then the VMs are resumed and the staging
// directory removed. Once the checkpoint is committed, nothing is left to undo and the cluster
// is stopped whatever happens.
std::atomic<int> g_signal{0};
extern "C" void ckpt_note_signal(int sig) { g_signal = sig; }

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = ckpt_note_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
}

void throw_if_interrupted() {
  if (const int sig = g_signal.load(); sig != 0) {
    throw Error(fmt::format("interrupted by {}", ::strsignal(sig)), ErrorKind::system);
  }
}

// Removes the staging directory unless the checkpoint was committed.
class Staging {
 public:
  explicit Staging(fs::path path) : path_(std::move(path)) {
    if (::mkdir(path_.c_str(), 0700) != 0) {
      throw Error::from_errno(fmt::format("cannot create {}", path_.string()), errno);
    }
  }
  ~Staging() {
    if (path_.empty()) return;
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;
  const fs::path& path() const noexcept { return path_; }
  void committed() noexcept { path_.clear(); }

 private:
  fs::path path_;
};

class CkptVerb final : public Verb {
 public:
  void declare(CLI::App& app) override {
    cmd_ = app.add_subcommand("ckpt", "Checkpoint the whole virtual cluster into a directory, then stop it");
    add_job_options(cmd_, job_);
    cmd_->add_flag("-F,--force", force_, "Replace DIR if it holds a checkpoint already");
    cmd_->add_option("--timeout", timeout_s_, "Seconds each VM's disk and memory may take to be written")
        ->check(CLI::Range(1, 86400))
        ->capture_default_str();
    cmd_->add_option("DIR", dir_, "The checkpoint directory (created; on a filesystem every node of the job shares)");
    // One phase on this node, started by `vm ckpt` itself through srun (checkpoint_node.hpp).
    cmd_->add_option("--phase", phase_)->group("");
    cmd_->add_option("--staging", staging_)->group("");
    cmd_->footer(
        "Every VM is paused at once; each one's disk (as a layer over its image) and memory are written into\n"
        "DIR, and then the cluster stops. Restore it with vm alloc -r DIR or vm batch -r DIR: same definition,\n"
        "names and addresses. VMs with persistent drives, host devices or shared directories cannot be\n"
        "checkpointed. A checkpoint that fails leaves the cluster running and DIR as it was.");
  }

  bool selected() const override { return cmd_->parsed(); }

  int run() override {
    if (!phase_.empty()) return run_phase();
    if (dir_.empty()) throw Error("give the checkpoint directory: vm ckpt DIR", ErrorKind::usage);
    fs::path dir = fs::absolute(dir_).lexically_normal();
    if (!dir.has_filename()) dir = dir.parent_path();
    std::error_code ec;
    if (fs::exists(fs::symlink_status(dir, ec))) {
      if (!force_) throw Error(fmt::format("{} exists: give -F to replace the checkpoint there", dir.string()), ErrorKind::usage);
      check_replaceable(dir);
    }
    if (!fs::is_directory(dir.parent_path(), ec)) {
      throw Error(fmt::format("{} does not exist: create it first", dir.parent_path().string()), ErrorKind::not_found);
    }
    const JobDir job = selected_job_dir(job_);
    const ClusterFile cluster = job.read_cluster();
    if (!cluster.node_components.empty()) {
      // One step over every node of the job: a heterogeneous job's components take one each.
      throw Error(fmt::format("job {} runs VMs of several sizes (a heterogeneous job): vm ckpt does not checkpoint "
                              "those yet",
                              job.job_id()),
                  ErrorKind::usage);
    }
    std::vector<VmFile> vms;
    for (std::uint32_t rank = 0; rank < cluster.node_of_vm.size(); ++rank) {
      vms.push_back(require_vm(job, rank));
      if (vms.back().persistent_drives) {
        throw Error(fmt::format("vm{} has persistent drives: they live outside the VM, a checkpoint cannot capture "
                                "them consistently (vm save saves its image)",
                                rank),
                    ErrorKind::usage);
      }
    }
    const json resolved = json::parse(read_file(job.path() / kResolvedClusterFile));
    std::vector<std::string> nodes;
    for (const auto i : std::set<std::uint32_t>(cluster.node_of_vm.begin(), cluster.node_of_vm.end())) {
      nodes.push_back(cluster.nodes.at(i));
    }

    install_signal_handlers();
    Staging staging(checkpoint_staging_dir(dir));
    const auto paused_at = std::chrono::steady_clock::now();
    const auto resume = [&] {
      if (!phase_everywhere(job.job_id(), nodes, CheckpointPhase::cont, staging.path()).ok()) {
        std::cerr << fmt::format("vm: warning: job {}: some VMs may still be paused: `vm monitor-cmd vm[...] cont` "
                                 "resumes them\n",
                                 job.job_id());
      }
    };
    if (!phase_everywhere(job.job_id(), nodes, CheckpointPhase::stop, staging.path()).ok() || g_signal != 0) {
      resume();
      throw Error(fmt::format("job {}: not every VM could be paused; the cluster goes on, nothing was written",
                              job.job_id()),
                  ErrorKind::system);
    }
    const RunResult saved = phase_everywhere(job.job_id(), nodes, CheckpointPhase::save, staging.path());
    Checkpoint ckpt;
    try {
      throw_if_interrupted();
      if (!saved.ok()) throw Error("not every VM could be saved (see above)", ErrorKind::system);
      ckpt = describe(job.job_id(), vms, resolved, saved.out);
      write_file_atomic(staging.path() / kCheckpointManifest, to_json(ckpt).dump(2) + "\n", 0600, {},
                        Durability::synced);
      throw_if_interrupted();
      commit_checkpoint(staging.path(), dir, force_);
      staging.committed();
    } catch (const Error& e) {
      resume();
      throw Error(fmt::format("job {}: checkpoint failed, the cluster goes on and {} is as it was: {}", job.job_id(),
                              dir.string(), e.what()),
                  e.kind());
    }
    const auto pause = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - paused_at);
    write_file_atomically(job.path() / kCheckpointedMarker, dir.string() + "\n");
    std::uint64_t bytes = 0;
    for (const auto& vm : ckpt.vms) bytes += vm.memory.size + (vm.disk ? vm.disk->size : 0);
    std::cout << fmt::format("{} VMs checkpointed to {} ({} MiB, paused {:.1f} s); the cluster stops now. Restore "
                             "it with: vm alloc -r {}\n",
                             vms.size(), dir.string(), bytes >> 20, std::chrono::duration<double>(pause).count(), dir.string())
              << std::flush;
    if (!phase_everywhere(job.job_id(), nodes, CheckpointPhase::quit, staging.path()).ok()) {
      std::cerr << fmt::format("vm: warning: job {}: some VMs did not stop; the checkpoint is complete: scancel {}\n",
                               job.job_id(), job.job_id());
    }
    return 0;
  }

 private:
  int run_phase() {
    const char* node = std::getenv("SLURMD_NODENAME");
    if (node == nullptr || *node == '\0' || job_.id == 0) {
      throw Error("--phase is vm ckpt's own, run on the job's nodes", ErrorKind::usage);
    }
    return run_checkpoint_phase(parse_checkpoint_phase(phase_), JobDir(home_directory(), job_.id), node, staging_,
                                std::chrono::seconds(timeout_s_));
  }

  // `vm ckpt --phase=P` on every node at once: one step, one task per node.
  RunResult phase_everywhere(std::uint32_t job_id, const std::vector<std::string>& nodes, CheckpointPhase phase,
                             const fs::path& staging) const {
    std::string list;
    for (const auto& n : nodes) list += (list.empty() ? "" : ",") + n;
    Command c;
    c.argv = {"srun",
              fmt::format("--jobid={}", job_id),
              "--overlap",
              "--mem=0",  // as on_node.cpp: a batch job's memory is its batch step's
              fmt::format("--nodelist={}", list),
              fmt::format("--nodes={}", nodes.size()),
              fmt::format("--ntasks={}", nodes.size()),
              "--ntasks-per-node=1",
              "--quiet",
              "--job-name=vm-ckpt",
              self_executable().string(),
              "ckpt",
              "-j",
              std::to_string(job_id),
              fmt::format("--phase={}", phase_name(phase)),
              fmt::format("--staging={}", staging.string()),
              fmt::format("--timeout={}", timeout_s_)};
    c.search_path = true;
    c.inherit_env = true;
    c.timeout = std::chrono::seconds(timeout_s_) * 2 + std::chrono::minutes(2);
    log_info("checkpoint phase {}: {}", phase_name(phase), format_argv(c.argv));
    RunResult r = slurmvm::run(c);
    print_srun_errors(r.err);
    if (r.timed_out) std::cerr << fmt::format("vm: error: checkpoint phase {} timed out\n", phase_name(phase));
    return r;
  }

  // checkpoint.json's content from the VMs' records and what each node reported.
  static Checkpoint describe(std::uint32_t job_id, const std::vector<VmFile>& vms, const json& resolved,
                             const std::string& reports) {
    std::map<std::uint32_t, SavedVm> saved;
    std::size_t start = 0;
    while (start < reports.size()) {
      auto end = reports.find('\n', start);
      if (end == std::string::npos) end = reports.size();
      const std::string line = reports.substr(start, end - start);
      start = end + 1;
      if (line.empty()) continue;
      try {
        const SavedVm s = parse_saved_vm(json::parse(line));
        saved[s.rank] = s;
      } catch (const json::exception& e) {
        throw Error(fmt::format("unexpected output from a node: {} ({})", line, e.what()), ErrorKind::system);
      }
    }
    Checkpoint c;
    c.job_id = job_id;
    c.created = utc_now_iso8601();
    c.network_id = vms.front().network_id;
    c.resolved = resolved;
    c.definition = resolved.value("definition", "");
    for (const auto& vm : vms) {
      const auto it = saved.find(vm.rank);
      if (it == saved.end()) throw Error(fmt::format("{} on {} reported no files", vm.name, vm.node), ErrorKind::system);
      c.vms.push_back({.rank = vm.rank,
                       .vcpus = vm.vcpus,
                       .memory_mib = vm.memory_mib,
                       .accel = vm.accel,
                       .mac = vm.mac,
                       .host_key_pub = vm.host_key_pub,
                       .image = vm.image,
                       .disk = it->second.disk,
                       .memory = it->second.memory});
    }
    return c;
  }

  CLI::App* cmd_ = nullptr;
  JobSelection job_;
  bool force_ = false;
  int timeout_s_ = 3600;
  std::string dir_;
  std::string phase_;
  std::string staging_;
};

}  // namespace

std::unique_ptr<Verb> make_ckpt_verb() { return std::make_unique<CkptVerb>(); }

}  // namespace slurmvm::cli
