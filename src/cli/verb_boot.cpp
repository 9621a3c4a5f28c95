// `vm boot [-d DEF] [-E SCRIPT | -- CMD...]`: inside a Slurm allocation (salloc or a batch job),
// starts the virtual cluster as one srun step (one task per VM, placed by vm_layout.hpp),
// waits until every VM answers SSH, runs the script or the user's shell, then stops the VMs.
// `vm alloc` runs this under salloc; batch scripts call it directly.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

#include <fmt/format.h>

#include "checkpoint.hpp"
#include "cluster_def.hpp"
#include "cluster_stop.hpp"
#include "config/config.hpp"
#include "config/identity.hpp"
#include "drive_lock.hpp"
#include "error.hpp"
#include "image_templates.hpp"
#include "job_files.hpp"
#include "log.hpp"
#include "output_relay.hpp"
#include "override_options.hpp"
#include "programs.hpp"
#include "resolved_cluster.hpp"
#include "slurm_job_info.hpp"
#include "ssh_probe.hpp"
#include "boot_layout.hpp"
#include "boot_watch.hpp"
#include "step_end.hpp"
#include "subprocess.hpp"
#include "verb.hpp"
#include "vm_set.hpp"
#include "vm_layout.hpp"

namespace slurmvm::cli {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

// The exit status when the virtual cluster ended before the user's command (docs/exit-codes.md).
const int kClusterEnded = exit_code_for(ErrorKind::cluster_ended);
// How long the user's command gets between SIGHUP/SIGTERM and SIGKILL once its cluster is gone.
constexpr seconds kStopGrace{10};

std::atomic<int> g_signal{0};
extern "C" void remember_signal(int sig) { g_signal = sig; }

class BootVerb final : public Verb {
 public:
  void declare(CLI::App& app) override {
    cmd_ = app.add_subcommand("boot", "Start the virtual cluster of the current allocation and run a command");
    // An option, not a positional: `vm boot -- vm ssh vm0 ...` must give every word after `--`
    // to the command.
    cmd_->add_option("-d,--definition", definition_,
                     "Cluster definition TPL[:N][,...] (default: $SLURM_VM_TEMPLATE, set by --vm-template)");
    cmd_->add_option("-E,--script,--alloc-script", script_, "Run this command (through /bin/sh -c) instead of $SHELL");
    cmd_->add_option("--timeout", timeout_s_, "Seconds to wait for every VM to answer SSH")
        ->check(CLI::Range(1, 86400))
        ->capture_default_str();
    overrides_.declare(cmd_);
    cmd_->add_flag("--until-poweroff", until_poweroff_,
                   "Run no command: keep the cluster up until every VM has powered off (vm batch with no script)");
    cmd_->add_option("--restore", restore_,
                     "Restore the cluster from this checkpoint directory (vm ckpt; vm alloc -r and vm batch -r "
                     "give it)");
    cmd_->add_option("COMMAND", command_, "Run this command (after --) instead of $SHELL");
    cmd_->positionals_at_end();
  }

  bool selected() const override { return cmd_->parsed(); }

  int run() override {
    if (definition_.empty()) {
      const char* env = std::getenv("SLURM_VM_TEMPLATE");
      if (env == nullptr || *env == '\0') {
        throw Error("no cluster definition: give -d DEF or submit the job with --vm-template", ErrorKind::usage);
      }
      definition_ = env;
    }
    if (int(!script_.empty()) + int(!command_.empty()) + int(until_poweroff_) > 1) {
      throw Error("give one of -E SCRIPT, --until-poweroff and -- COMMAND", ErrorKind::usage);
    }
    const ClusterDef def = ClusterDef::parse(definition_);
    const ResolvedCluster cluster = cluster_to_boot(def);
    ::unsetenv(kNetworkIdEnv);  // read at submission only (vm alloc -r): not for the user's shell

    const std::uint32_t job_id = resolve_job_id(0);
    const BootLayout layout = boot_layout(def, config::process_env);

    JobDir dir(home_directory(), job_id);
    dir.create();
    std::error_code ignored;  // a checkpoint of an earlier boot in this job is not this one's
    std::filesystem::remove(dir.path() / kCheckpointedMarker, ignored);
    dir.write_cluster({job_id, def.to_string(), layout.nodes, layout.cpus_of_vm.front(), layout.node_of_vm,
                       layout.node_components});
    // Every VM's vm-launch reads this one file, not the YAML (resolved_cluster.hpp).
    write_file_atomically(dir.path() / kResolvedClusterFile, to_json(cluster).dump(2) + "\n");
    const auto hostfile = dir.path() / "hostfile";
    write_file_atomically(hostfile, boot_hostfile(layout));

    install_signal_handlers();
    // Declared before the step: the step is stopped (destroyed) first, then its output drained.
    OutputRelay step_output(dir.path() / "step.log", STDERR_FILENO);
    step_log_start_ = size_or_zero(dir.path() / "step.log");
    step_output.start();
    auto readiness = readiness_of(dir, def, cluster, !restore_.empty());  // before any VM writes its console
    ChildProcess step = start_vms(def, layout, hostfile, step_output);
    const Boot boot = wait_until_ready(dir, std::move(readiness), step, step_output);
    int rc = 0;
    if (boot == Boot::ready && g_signal == 0) {
      rc = until_poweroff_ ? wait_for_poweroff(dir, def.vm_count(), step, step_output)
                           : run_user_command(dir, def.vm_count(), step, step_output);
    }
    stop_vms(dir, def.vm_count(), step, step_output);
    // The disks and seeds go with the VMs (a job per test run would fill the home directory);
    // console logs and vm.json stay for `vm console --log` and `vm ps --ended`.
    if (!step.running() || step.poll()) {
      release_drive_locks(dir, def.vm_count());
      const auto freed = dir.remove_vm_runtime_files(def.vm_count());
      log_info("job {}: removed the VMs' disk overlays and seeds ({} MiB)", job_id, freed >> 20);
    }
    if (boot == Boot::timed_out) return exit_code_for(ErrorKind::timeout);
    if (boot == Boot::step_ended) return kClusterEnded;
    if (g_signal != 0) return 128 + g_signal;
    return rc;
  }

 private:
  // The cluster as `vm alloc` or `vm batch` resolved it at submission (SLURM_VM_RESOLVED), else
  // (vm boot run by hand in an allocation) as the configuration files and this command's
  // overrides say now. The variable is then dropped: the user's shell and the VMs' step do not
  // need it, and a `vm boot` started from that shell resolves its own cluster.
  ResolvedCluster cluster_to_boot(const ClusterDef& def) {
    const auto env = config::process_env(kResolvedClusterEnv);
    ::unsetenv(kResolvedClusterEnv);
    if (!env || env->empty()) {
      config::Config cfg = config::load_config(config::config_dirs_from_env());
      add_image_templates(cfg, def);
      return resolve_cluster(def, cfg, overrides_.parse(def));
    }
    if (!overrides_.images.empty() || !overrides_.mounts.empty() || !overrides_.user_data.empty()) {
      throw Error("this cluster's templates were resolved when the job was submitted: give --image, --mount and "
                  "--user-data to vm alloc or vm batch",
                  ErrorKind::usage);
    }
    ResolvedCluster cluster = parse_resolved_cluster(*env, kResolvedClusterEnv);
    if (cluster.definition != def.to_string()) {
      throw Error(fmt::format("{} is cluster {}, not {}", kResolvedClusterEnv, cluster.definition, def.to_string()),
                  ErrorKind::usage);
    }
    return cluster;
  }

  static void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = remember_signal;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
  }

  ChildProcess start_vms(const ClusterDef& def, const BootLayout& layout, const std::filesystem::path& hostfile,
                         OutputRelay& output) {
    Command srun;
    srun.argv = {"srun"};
    // A VM that ends badly (QEMU killed or failing) ends the cluster: step_end.hpp.
    const auto args = vms_step_argv(layout, {"--job-name=vm-launch", "--kill-on-bad-exit=1"},
                                    {helper_program("vm-launch").string(), def.to_string()});
    srun.argv.insert(srun.argv.end(), args.begin(), args.end());
    srun.search_path = true;
    srun.inherit_env = true;
    srun.env_set = {"SLURM_VM_TEMPLATE=" + def.to_string()};
    if (layout.heterogeneous) {
      srun.env_set.push_back(std::string(kCpusPerVmEnv) + "=" + cpus_per_vm_env(layout));
    } else {
      srun.env_set.push_back("SLURM_HOSTFILE=" + hostfile.string());
    }
    if (auto memory = job_memory_env()) srun.env_set.push_back(*memory);
    if (!restore_.empty()) srun.env_set.push_back(fmt::format("{}={}", kRestoreEnv, restore_));
    srun.output_fd = output.write_fd();
    log_info("starting {} VMs: {}", def.vm_count(), format_argv(srun.argv));
    ChildProcess step = spawn(srun);
    output.close_write_end();
    return step;
  }

  enum class Boot { ready, timed_out, step_ended, interrupted };

  // How each VM says it is ready: its template's console marker, else SSH on its reverse-NAT
  // port, else (neither) the moment it has started.
  struct Readiness {
    std::optional<std::string> marker;
    ConsoleWatch console;
  };
  // A restored guest does not boot again, so prints no marker: SSH, else started, says ready.
  static std::vector<Readiness> readiness_of(const JobDir& dir, const ClusterDef& def,
                                             const ResolvedCluster& cluster, bool restored) {
    std::vector<Readiness> out(def.vm_count());
    for (std::uint32_t r = 0; r < def.vm_count(); ++r) {
      if (!restored) out[r].marker = cluster.get(def.template_of(r)).ready_marker;
      out[r].console = ConsoleWatch(size_or_zero(dir.vm_dir(r) / "console.log"));
    }
    return out;
  }

  bool vm_ready(const JobDir& dir, std::uint32_t rank, const VmFile& vm, Readiness& how) const {
    if (how.marker) return how.console.seen(dir.vm_dir(rank) / "console.log", *how.marker);
    if (vm.ssh_port) return ssh_answers(vm.node, *vm.ssh_port, milliseconds(500));
    log_warning("{} on {} has no reverse-NAT port and its template no ready-marker: counted ready once started",
                vm.name, vm.node);
    return true;
  }

  Boot wait_until_ready(const JobDir& dir, std::vector<Readiness> how, ChildProcess& step, OutputRelay& output) {
    const auto count = static_cast<std::uint32_t>(how.size());
    const auto deadline = Clock::now() + seconds(timeout_s_);
    std::vector<std::optional<VmFile>> vms(count);
    std::vector<bool> ready(count, false);
    std::uint32_t n_ready = 0, shown = ~0u;
    const bool tty = ::isatty(STDERR_FILENO) != 0;
    while (n_ready < count) {
      if (g_signal != 0) return Boot::interrupted;
      if (auto r = step.poll()) {
        std::cerr << (tty ? "\n" : "");
        report_step_end(dir, count, *r, output);
        log_error("job {}: the VMs' srun step ended before every VM was ready; see the messages above",
                  dir.job_id());
        report_late(dir, vms, ready);
        return Boot::step_ended;
      }
      for (std::uint32_t r = 0; r < count; ++r) {
        if (ready[r]) continue;
        if (!vms[r]) vms[r] = dir.read_vm(r);
        if (vms[r] && vm_ready(dir, r, *vms[r], how[r])) {
          ready[r] = true;
          ++n_ready;
        }
      }
      if (n_ready != shown) {
        std::cerr << fmt::format("{}vm: job {}: {}/{} VMs ready{}", tty ? "\r" : "", dir.job_id(), n_ready, count,
                                 tty ? "" : "\n")
                  << std::flush;
        shown = n_ready;
      }
      if (n_ready == count) break;
      if (Clock::now() >= deadline) {
        std::cerr << (tty ? "\n" : "");
        log_error("timed out after {} s waiting for the VMs to answer SSH or print their ready-marker (--timeout)",
                  timeout_s_);
        report_late(dir, vms, ready);
        return Boot::timed_out;
      }
      std::this_thread::sleep_for(milliseconds(250));
    }
    if (tty) std::cerr << '\n';
    std::vector<VmFile> all;
    for (auto& vm : vms) all.push_back(*vm);
    dir.write_ssh_files(all);
    return Boot::ready;
  }

  // The step ended on its own: says which VMs ended it and how (srun's words, step_end.hpp),
  // with the last lines of their consoles, from the step's output since this boot started.
  std::vector<VmEnd> step_end_causes_since_boot(const JobDir& dir, OutputRelay& output) const {
    output.drain(seconds(2));  // srun's last words come before ours
    return step_end_causes(read_file_from(dir.path() / "step.log", step_log_start_));
  }
  void report_step_end(const JobDir& dir, std::uint32_t count, const RunResult& r, OutputRelay& output) const {
    report_step_end(dir, count, r, step_end_causes_since_boot(dir, output));
  }
  void report_step_end(const JobDir& dir, std::uint32_t count, const RunResult& r,
                       const std::vector<VmEnd>& causes) const {
    log_error("{}", describe_step_end(dir.job_id(), count, causes, r.exit_code, r.signal));
    for (const auto& c : causes) {
      // A VM that never ran has no console: report_late gives vm-launch's reason.
      if (c.rank >= count || launch_failure(dir.vm_dir(c.rank))) continue;
      std::cerr << fmt::format("vm{}: last console lines ({}):\n", c.rank, (dir.vm_dir(c.rank) / "console.log").string())
                << console_tail(dir.vm_dir(c.rank) / "console.log", 10);
    }
  }

  // `vm batch` with no script: the cluster is the job, until every VM has powered off (exit 0),
  // one ended badly (kClusterEnded), or the job is cancelled.
  int wait_for_poweroff(const JobDir& dir, std::uint32_t count, ChildProcess& step, OutputRelay& output) {
    std::cerr << fmt::format("vm: job {}: virtual cluster ready; it runs until its VMs power off\n", dir.job_id());
    for (;;) {
      if (g_signal != 0) return 128 + g_signal;
      if (auto r = step.wait_for(seconds(1))) {
        const auto causes = step_end_causes_since_boot(dir, output);
        if (report_checkpoint(dir.path(), dir.job_id())) return 0;
        if (causes.empty() && r->exit_code == 0 && r->signal == 0) {
          log_info("job {}: every VM powered off", dir.job_id());
          std::cerr << fmt::format("vm: job {}: every VM powered off\n", dir.job_id());
          return 0;
        }
        report_step_end(dir, count, *r, causes);
        return kClusterEnded;
      }
    }
  }

  static void report_late(const JobDir& dir, const std::vector<std::optional<VmFile>>& vms,
                          const std::vector<bool>& ready) {
    for (std::uint32_t r = 0; r < vms.size(); ++r) {
      if (ready[r]) continue;
      if (!vms[r]) {
        if (const auto why = launch_failure(dir.vm_dir(r))) {
          std::cerr << fmt::format("vm{}: never started: vm-launch failed {}\n", r, *why);
        } else {
          std::cerr << fmt::format("vm{}: never started (no {}); its node's srun messages say why\n", r,
                                   (dir.vm_dir(r) / "vm.json").string());
        }
        continue;
      }
      std::cerr << fmt::format("vm{} on {}: not answering SSH{}; last console lines:\n", r, vms[r]->node,
                               vms[r]->ssh_port ? fmt::format(" on port {}", *vms[r]->ssh_port) : " (no port)")
                << console_tail(dir.vm_dir(r) / "console.log", 10);
    }
  }

  int run_user_command(const JobDir& dir, std::uint32_t count, ChildProcess& step, OutputRelay& step_output) {
    const std::uint32_t job_id = dir.job_id();
    const bool interactive = script_.empty() && command_.empty();
    Command c;
    if (!script_.empty()) {
      c.argv = {"/bin/sh", "-c", script_};
    } else if (!command_.empty()) {
      c.argv = command_;
      c.search_path = true;
    } else {
      const char* shell = std::getenv("SHELL");
      c.argv = {shell != nullptr && shell[0] == '/' ? shell : "/bin/sh"};
      std::cerr << fmt::format("vm: job {}: virtual cluster ready; `vm ssh vm0`, `vm list`; exit the shell to stop it\n",
                               job_id);
    }
    c.inherit_env = true;
    // A script or command gets a process group of its own, so that stopping it stops what it
    // started too (`sh -c` need not exec its last command); the interactive shell stays in
    // ours, and SIGHUP reaches its jobs through the shell, as on a hangup.
    c.new_process_group = !interactive;
    c.env_set = {fmt::format("SLURM_VM_JOB_DIR={}", dir.path().string())};
    // Like system(3): while the user's program runs, the terminal's signals are its own.
    struct sigaction ignore {}, old_int {}, old_quit {};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGINT, &ignore, &old_int);
    ::sigaction(SIGQUIT, &ignore, &old_quit);
    c.inherit_stdin = true;
    ChildProcess child = spawn(c);
    const TerminalHandover terminal(c.new_process_group ? child.pid() : 0);
    std::optional<RunResult> r;
    bool cluster_ended = false;
    while (!(r = child.wait_for(seconds(1)))) {
      if (g_signal == SIGTERM || g_signal == SIGHUP) {
        r = child.stop(SIGTERM, seconds(10));
        break;
      }
      // The VMs ended under the user's command (a QEMU killed, a node failure, every guest
      // powered off): say which and how, then stop the command as pcocc did (a shell gets
      // SIGHUP, a script SIGTERM, either SIGKILL after the grace), rather than leave it
      // talking to a cluster that is gone.
      if (auto s = step.poll()) {
        const bool checkpointed = report_checkpoint(dir.path(), dir.job_id());
        if (!checkpointed) report_step_end(dir, count, *s, step_output);
        std::cerr << fmt::format("vm: job {}: stopping the {} ({}, SIGKILL after {} s)\n", job_id,
                                 interactive ? "shell" : "script", interactive ? "SIGHUP" : "SIGTERM", kStopGrace.count());
        r = child.stop(interactive ? SIGHUP : SIGTERM, kStopGrace);
        cluster_ended = !checkpointed;
        if (checkpointed) return 0;
        break;
      }
    }
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGQUIT, &old_quit, nullptr);
    if (cluster_ended) return kClusterEnded;
    return r->signal != 0 ? 128 + r->signal : r->exit_code;
  }

  CLI::App* cmd_ = nullptr;
  std::string definition_;
  std::string script_;
  std::vector<std::string> command_;
  int timeout_s_ = 300;
  bool until_poweroff_ = false;
  std::string restore_;
  std::uintmax_t step_log_start_ = 0;  // step.log's size before this boot's step started
  OverrideOptions overrides_;
};

}  // namespace

std::unique_ptr<Verb> make_boot_verb() { return std::make_unique<BootVerb>(); }

}  // namespace slurmvm::cli
