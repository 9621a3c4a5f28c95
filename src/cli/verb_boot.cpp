// `vm boot [-d DEF] [-E SCRIPT | -- CMD...]`: inside a Slurm allocation (salloc or a batch job),
// starts the virtual cluster as one srun step (one task per VM, placed by vm_layout.hpp),
// waits until every VM answers SSH, runs the script or the user's shell, then stops the VMs.
// `vm alloc` runs this under salloc; batch scripts call it directly.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <thread>

#include <fmt/format.h>

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
#include "slurm_lists.hpp"
#include "ssh_probe.hpp"
#include "subprocess.hpp"
#include "verb.hpp"
#include "vm_set.hpp"
#include "vm_layout.hpp"

namespace slurmvm::cli {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::atomic<int> g_signal{0};
extern "C" void remember_signal(int sig) { g_signal = sig; }

// The last lines of a VM's console log, to show why it is late.
std::string console_tail(const std::filesystem::path& log, std::size_t lines) {
  std::ifstream in(log);
  if (!in) return "  (no console log yet)\n";
  std::vector<std::string> last;
  for (std::string line; std::getline(in, line);) {
    last.push_back(line);
    if (last.size() > lines) last.erase(last.begin());
  }
  std::string out;
  for (const auto& l : last) out += "  | " + l + "\n";
  return out;
}

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
    if (!script_.empty() && !command_.empty()) {
      throw Error("give either -E SCRIPT or -- COMMAND, not both", ErrorKind::usage);
    }
    const ClusterDef def = ClusterDef::parse(definition_);
    const ResolvedCluster cluster = cluster_to_boot(def);

    const std::uint32_t job_id = resolve_job_id(0);
    const auto nodes = expand_hostlist(required_env("SLURM_JOB_NODELIST"));
    const auto cpus = expand_counts(required_env("SLURM_JOB_CPUS_PER_NODE"));
    if (cpus.size() != nodes.size()) {
      throw Error(fmt::format("SLURM_JOB_CPUS_PER_NODE lists {} nodes, SLURM_JOB_NODELIST {}", cpus.size(),
                              nodes.size()),
                  ErrorKind::system);
    }
    const VmLayout layout = compute_vm_layout(cpus, def.vm_count());

    JobDir dir(home_directory(), job_id);
    dir.create();
    dir.write_cluster({job_id, def.to_string(), nodes, layout.cpus_per_vm, layout.node_of_vm});
    // Every VM's vm-launch reads this one file, not the YAML (resolved_cluster.hpp).
    write_file_atomically(dir.path() / kResolvedClusterFile, to_json(cluster).dump(2) + "\n");
    const auto hostfile = dir.path() / "hostfile";
    write_file_atomically(hostfile, layout_hostfile(layout, nodes));

    install_signal_handlers();
    // Declared before the step: the step is stopped (destroyed) first, then its output drained.
    OutputRelay step_output(dir.path() / "step.log", STDERR_FILENO);
    step_output.start();
    ChildProcess step = start_vms(def, layout, hostfile, step_output);
    const bool ready = wait_until_ready(dir, def.vm_count(), step, step_output);
    int rc = 0;
    if (ready && g_signal == 0) rc = run_user_command(job_id, dir, step, step_output);
    stop_vms(dir, def.vm_count(), step, step_output);
    // The disks and seeds go with the VMs (a job per test run would fill the home directory);
    // console logs and vm.json stay for `vm console --log` and `vm ps --ended`.
    if (!step.running() || step.poll()) {
      release_drive_locks(dir, def.vm_count());
      const auto freed = dir.remove_vm_runtime_files(def.vm_count());
      log_info("job {}: removed the VMs' disk overlays and seeds ({} MiB)", job_id, freed >> 20);
    }
    if (!ready) return exit_code_for(ErrorKind::timeout);
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

  ChildProcess start_vms(const ClusterDef& def, const VmLayout& layout, const std::filesystem::path& hostfile,
                         OutputRelay& output) {
    Command srun;
    srun.argv = {"srun",
                 "--job-name=vm-launch",
                 fmt::format("--ntasks={}", def.vm_count()),
                 fmt::format("--cpus-per-task={}", layout.cpus_per_vm),
                 // Task N on the node the layout chose: the prolog built its TAP there.
                 "--distribution=arbitrary",
                 "--kill-on-bad-exit=0",
                 helper_program("vm-launch").string(),
                 def.to_string()};
    srun.search_path = true;
    srun.inherit_env = true;
    srun.env_set = {"SLURM_HOSTFILE=" + hostfile.string(), "SLURM_VM_TEMPLATE=" + def.to_string()};
    if (auto memory = job_memory_env()) srun.env_set.push_back(*memory);
    srun.output_fd = output.write_fd();
    log_info("starting {} VMs: {}", def.vm_count(), format_argv(srun.argv));
    ChildProcess step = spawn(srun);
    output.close_write_end();
    return step;
  }

  bool wait_until_ready(const JobDir& dir, std::uint32_t count, ChildProcess& step, OutputRelay& output) {
    const auto deadline = Clock::now() + seconds(timeout_s_);
    std::vector<std::optional<VmFile>> vms(count);
    std::vector<bool> ready(count, false);
    std::uint32_t n_ready = 0, shown = ~0u;
    const bool tty = ::isatty(STDERR_FILENO) != 0;
    while (n_ready < count) {
      if (g_signal != 0) return false;
      if (auto r = step.poll()) {
        output.drain(seconds(2));  // srun's last words come before ours
        std::cerr << (tty ? "\n" : "");
        log_error("the VMs' srun step ended before every VM was ready (exit status {}{}); see the messages above",
                  r->exit_code, r->signal ? fmt::format(", signal {}", r->signal) : "");
        report_late(dir, vms, ready);
        return false;
      }
      for (std::uint32_t r = 0; r < count; ++r) {
        if (ready[r]) continue;
        if (!vms[r]) vms[r] = dir.read_vm(r);
        if (vms[r] && vms[r]->ssh_port && ssh_answers(vms[r]->node, *vms[r]->ssh_port, milliseconds(500))) {
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
        log_error("timed out after {} s waiting for the VMs to answer SSH (--timeout)", timeout_s_);
        report_late(dir, vms, ready);
        return false;
      }
      std::this_thread::sleep_for(milliseconds(250));
    }
    if (tty) std::cerr << '\n';
    std::vector<VmFile> all;
    for (auto& vm : vms) all.push_back(*vm);
    dir.write_ssh_files(all);
    return true;
  }

  static void report_late(const JobDir& dir, const std::vector<std::optional<VmFile>>& vms,
                          const std::vector<bool>& ready) {
    for (std::uint32_t r = 0; r < vms.size(); ++r) {
      if (ready[r]) continue;
      if (!vms[r]) {
        std::cerr << fmt::format("vm{}: never started (no {}); its node's srun messages say why\n", r,
                                 (dir.vm_dir(r) / "vm.json").string());
        continue;
      }
      std::cerr << fmt::format("vm{} on {}: not answering SSH{}; last console lines:\n", r, vms[r]->node,
                               vms[r]->ssh_port ? fmt::format(" on port {}", *vms[r]->ssh_port) : " (no port)")
                << console_tail(dir.vm_dir(r) / "console.log", 10);
    }
  }

  int run_user_command(std::uint32_t job_id, const JobDir& dir, ChildProcess& step, OutputRelay& step_output) {
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
    c.new_process_group = false;  // an interactive shell needs the terminal
    c.env_set = {fmt::format("SLURM_VM_JOB_DIR={}", dir.path().string())};
    // Like system(3): while the user's program runs, the terminal's signals are its own.
    struct sigaction ignore {}, old_int {}, old_quit {};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGINT, &ignore, &old_int);
    ::sigaction(SIGQUIT, &ignore, &old_quit);
    c.inherit_stdin = true;
    ChildProcess child = spawn(c);
    std::optional<RunResult> r;
    bool step_reported = false;
    while (!(r = child.wait_for(seconds(1)))) {
      if (g_signal == SIGTERM || g_signal == SIGHUP) {
        r = child.stop(SIGTERM, seconds(10));
        break;
      }
      // The VMs ended under the user's command (a QEMU killed, a node failure): say so at once;
      // the command decides what to do (a shell's user is told, a script sees VMs vanish).
      if (auto s = step.poll(); s && !step_reported) {
        step_reported = true;
        step_output.drain(seconds(2));
        log_error("job {}: the VMs' srun step ended ({}): the virtual cluster is gone; see the messages above "
                  "and {}",
                  job_id, s->signal ? fmt::format("signal {}", s->signal) : fmt::format("exit status {}", s->exit_code),
                  (dir.path() / "step.log").string());
      }
    }
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGQUIT, &old_quit, nullptr);
    return r->signal != 0 ? 128 + r->signal : r->exit_code;
  }

  CLI::App* cmd_ = nullptr;
  std::string definition_;
  std::string script_;
  std::vector<std::string> command_;
  int timeout_s_ = 300;
  OverrideOptions overrides_;
};

}  // namespace

std::unique_ptr<Verb> make_boot_verb() { return std::make_unique<BootVerb>(); }

}  // namespace slurmvm::cli
