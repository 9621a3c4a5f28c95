// `vm batch [-c CPUS] [-N NODES] [-E HOST_SCRIPT] [-b VM_SCRIPT] [--wait] [sbatch options] DEF`:
// submits a batch job that boots the virtual cluster, runs HOST_SCRIPT on the job's first node
// and VM_SCRIPT as root inside vm0, and ends when they finish (batch_script.hpp). sbatch reads
// the job's script from its standard input, so nothing is written on the login node; sbatch
// replaces this process, so with --wait its exit status, the job's, is the command's: a
// Jenkins job fails when its VM script fails. With --junit FILE, sbatch runs as a child and
// the report is written when it returns (batch_report.hpp).
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "batch_script.hpp"
#include "batch_report.hpp"
#include "cluster_def.hpp"
#include "config/config.hpp"
#include "error.hpp"
#include "file_read.hpp"
#include "log.hpp"
#include "override_options.hpp"
#include "submission.hpp"
#include "programs.hpp"
#include "subprocess.hpp"
#include "unique_fd.hpp"
#include "verb.hpp"

namespace slurmvm::cli {
namespace {

constexpr std::size_t kMaxScriptBytes = 1 << 20;

std::string read_script(const std::string& path, const char* what) {
  try {
    return read_file(path, kMaxScriptBytes);
  } catch (const Error& e) {
    if (e.errnum() == 0) {  // not a file, or too large
      throw Error(fmt::format("the {} {}: {} (at most 1 MiB: put a larger one on a shared filesystem and run that)",
                              what, path, e.what()),
                  ErrorKind::usage);
    }
    throw Error(fmt::format("cannot read the {} {}: {}", what, path, std::strerror(e.errnum())), ErrorKind::not_found);
  }
}

class BatchVerb final : public Verb {
 public:
  void declare(CLI::App& app) override {
    cmd_ = app.add_subcommand("batch", "Submit a batch job that boots a virtual cluster and runs scripts with it");
    cmd_->footer(
        "Options not listed here go to sbatch(1). DEF is TEMPLATE[:COUNT[:c=CPUS]][,...], as for vm alloc.\n"
        "HOST_SCRIPT runs on the job's first node, VM_SCRIPT as root in vm0, at the same time; the job\n"
        "ends when both have. The job's exit status is VM_SCRIPT's if it failed, else HOST_SCRIPT's.\n"
        "With neither, the cluster runs until the time limit or scancel. Output: sbatch's (slurm-%j.out).");
    cmd_->add_option("-c,--cpus-per-vm", cpus_, "CPUs of each VM (sbatch --cpus-per-task)")->check(CLI::PositiveNumber);
    cmd_->add_option("-N,--nodes", nodes_, "Nodes to spread the VMs over (sbatch --nodes)");
    cmd_->add_option("-E,--host-script", host_script_, "Run this script on the job's first node")
        ->check(CLI::ExistingFile);
    cmd_->add_option("-b,--vm-script,--batch-script", vm_script_, "Run this script as root in vm0")->check(CLI::ExistingFile);
    cmd_->add_flag("-w,--wait", wait_, "Wait for the job to end and exit with its status (sbatch --wait)");
    cmd_->add_option("--junit", junit_,
                     "With --wait: write a JUnit XML report to this file, one test case per script with its "
                     "output, status and time (its directory must be one the compute nodes share)");
    cmd_->add_option("--timeout", timeout_s_, "Seconds to wait for every VM to answer SSH")
        ->check(CLI::Range(1, 86400))
        ->capture_default_str();
    overrides_.declare(cmd_);
    cmd_->add_option("-r,--restart-ckpt", restart_ckpt_,
                     "Restore the cluster checkpointed in this directory (vm ckpt); DEF may be left out");
    cmd_->allow_extras();
  }

  bool selected() const override { return cmd_->parsed(); }

  int run() override {
    if (!junit_.empty() && !wait_) throw Error("--junit needs --wait: the report is written when the job ends", ErrorKind::usage);
    std::optional<RestoreSubmission> restore;
    if (!restart_ckpt_.empty()) restore = read_restore_submission(cmd_->remaining(), restart_ckpt_, cpus_, overrides_);
    export_restore_env(restore);
    const Submission sub =
        restore ? std::move(restore->sub) : read_submission(cmd_->remaining(), "vm batch -b test.sh tiny:2", overrides_);

    BatchScripts scripts;
    scripts.resolved_cluster = to_json(sub.resolved).dump();
    scripts.vm_program = self_executable().string();
    scripts.boot_timeout_s = timeout_s_;
    if (restore) scripts.restore_dir = restore->dir.string();
    if (!host_script_.empty()) scripts.host_script = read_script(host_script_, "host script");
    if (!vm_script_.empty()) scripts.vm_script = read_script(vm_script_, "VM script");
    std::optional<JunitRun> report;
    if (!junit_.empty()) {
      if (!scripts.host_script && !scripts.vm_script) {
        throw Error("--junit reports on scripts: give -E HOST_SCRIPT, -b VM_SCRIPT or both", ErrorKind::usage);
      }
      report.emplace(junit_, "vm batch " + sub.def.to_string());
      scripts.results_dir = report->results_dir().string();
    }
    const std::string script = batch_script(scripts);

    std::vector<std::string> flags;
    if (wait_) flags.push_back("--wait");
    std::vector<std::string> argv = slurm_argv("sbatch", sub, restore ? restore->cpus : cpus_, nodes_, flags);
    log_info("running {} with the generated script on its standard input", format_argv(argv));

    // The script as sbatch's stdin, from an anonymous memory file: no path anyone could
    // guess or race, and no size limit as with a pipe.
    UniqueFd memfd(::memfd_create("vm-batch-script", MFD_CLOEXEC));
    if (!memfd) throw Error::from_errno("memfd_create", errno);
    for (std::size_t done = 0; done < script.size();) {
      const ssize_t n = ::write(memfd.get(), script.data() + done, script.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw Error::from_errno("writing the batch script", errno);
      done += static_cast<std::size_t>(n);
    }
    if (::lseek(memfd.get(), 0, SEEK_SET) != 0 || ::dup2(memfd.get(), STDIN_FILENO) < 0) {
      throw Error::from_errno("handing the batch script to sbatch", errno);
    }
    if (!report) exec_program(std::move(argv), "is Slurm's client installed and on PATH?");

    // With a report, sbatch --wait runs as a child: the report is written when it returns.
    Command c;
    c.argv = std::move(argv);
    c.search_path = true;
    c.inherit_env = true;
    c.inherit_stdin = true;
    c.capture_stdout = false;
    c.capture_stderr = false;
    c.new_process_group = false;  // Ctrl-C reaches sbatch, which then cancels nothing: as without --junit
    // sbatch --wait returns when the job ends, which Slurm ends at its time limit.
    c.timeout = std::chrono::hours(24 * 366);
    const RunResult r = slurmvm::run(c);
    const int status = r.signal != 0 ? 128 + r.signal : r.exit_code;
    std::vector<std::string> names;
    if (scripts.host_script) names.emplace_back("host-script");
    if (scripts.vm_script) names.emplace_back("vm-script");
    report->write(names, status);
    return status;
  }

 private:
  CLI::App* cmd_ = nullptr;
  unsigned cpus_ = 0;
  std::string nodes_;
  std::string host_script_;
  std::string vm_script_;
  bool wait_ = false;
  std::string junit_;
  int timeout_s_ = 300;
  std::string restart_ckpt_;
  OverrideOptions overrides_;
};

}  // namespace

std::unique_ptr<Verb> make_batch_verb() { return std::make_unique<BatchVerb>(); }

}  // namespace slurmvm::cli
