// Running a verb on the VM's node (on_node.hpp).
#include "on_node.hpp"

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <regex>

#include <fmt/format.h>

#include "error.hpp"
#include "log.hpp"
#include "programs.hpp"
#include "subprocess.hpp"

namespace slurmvm::cli {
namespace {

std::vector<std::string>& saved_argv() {
  static std::vector<std::string> argv;
  return argv;
}

}  // namespace

void remember_command_line(int argc, char** argv) {
  saved_argv().assign(argv, argv + argc);
}

bool on_node(const std::string& node) {
  if (const char* here = std::getenv("SLURM_VM_ON_NODE"); here != nullptr && *here != '\0') {
    if (node != here) {
      throw Error(fmt::format("this command was forwarded to node {}, but the VM runs on {}", here, node),
                  ErrorKind::internal);
    }
    return true;
  }
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) return false;
  std::string name(host);
  if (const auto dot = name.find('.'); dot != std::string::npos) name.resize(dot);
  return name == node;
}

int run_on_node(const ClusterFile& cluster, const std::string& node, bool pty, const std::vector<std::string>& args) {
  const auto& argv = saved_argv();
  if (argv.empty()) throw Error("run_on_node: no command line", ErrorKind::internal);
  Command c;
  c.argv = {"srun"};
  const auto job = cluster.step_options(node);
  c.argv.insert(c.argv.end(), job.begin(), job.end());
  c.argv.insert(c.argv.end(), {
            "--overlap",
            // All of the job's memory there, shared: without it a batch job's step (which holds
            // its memory) makes srun refuse "Memory required by task is not available".
            "--mem=0",
            fmt::format("--nodelist={}", node),
            "--nodes=1",
            "--ntasks=1",
            "--quiet",
            "--job-name=vm-on-node",
            fmt::format("--export=ALL,SLURM_VM_ON_NODE={},{}={}", node, kForwardedJobEnv, cluster.job_id)});
  if (pty) c.argv.push_back("--pty");
  c.argv.push_back(self_executable().string());
  if (args.empty()) {
    c.argv.insert(c.argv.end(), argv.begin() + 1, argv.end());
  } else {
    c.argv.insert(c.argv.end(), args.begin(), args.end());
  }
  c.search_path = true;
  c.inherit_env = true;
  c.inherit_stdin = true;
  c.capture_stdout = false;
  // srun reports a task's non-zero exit on stderr ("srun: error: node1: task 0: Exited with
  // exit code 3"): that is our own exit status, already the command's; the rest is shown.
  c.capture_stderr = !pty;
  c.new_process_group = !pty;  // a terminal session needs the terminal's process group
  // Long enough for a dump or a console session; srun itself dies with the job.
  c.timeout = std::chrono::hours(24 * 365);
  log_debug("on {}: {}", node, format_argv(c.argv));
  const RunResult r = run(c);
  print_srun_errors(r.err);
  return r.signal != 0 ? 128 + r.signal : r.exit_code;
}

void print_srun_errors(const std::string& err) {
  static const std::regex task_status(R"(^srun: error: \S+: tasks? [0-9,-]+: (Exited with exit code \d+|Killed)$)");
  std::size_t start = 0;
  while (start < err.size()) {
    auto end = err.find('\n', start);
    if (end == std::string::npos) end = err.size();
    const std::string line = err.substr(start, end - start);
    if (!std::regex_match(line, task_status)) std::cerr << line << '\n';
    start = end + 1;
  }
  std::cerr << std::flush;
}

}  // namespace slurmvm::cli
