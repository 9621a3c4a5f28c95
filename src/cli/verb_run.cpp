// `vm run [-j JOBID|-J NAME] [-w VMSET] [-i] [-u USER] [--cwd DIR] [-e VAR[=VALUE]]... [--gather]
// [--pty] [--timeout S] -- COMMAND...`: COMMAND in many VMs at once, without the network,
// through their guest agents (guest_run.hpp), as pcocc's `run`. Output comes line by line as it
// is written, each line prefixed with its VM's name ("vm3: ..."), stdout to stdout and stderr
// to stderr; --gather prints each VM's output as one block once all have ended. The exit status
// is the worst (highest) of the commands'. The VMs of each node are handled there, by one srun
// per node started at once (`vm run --wire`, whose output is a line protocol this side reads).
// --pty gives one VM's command a terminal, which the agent has not: through `vm ssh -t`.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <optional>
#include <iostream>
#include <map>

#include <fmt/format.h>

#include "error.hpp"
#include "sh_quote.hpp"
#include "guest_run.hpp"
#include "job_files.hpp"
#include "job_selection.hpp"
#include "log.hpp"
#include "programs.hpp"
#include "subprocess.hpp"
#include "unique_fd.hpp"
#include "verb.hpp"
#include "vm_set.hpp"

namespace slurmvm::cli {
namespace {

// The wire: one line per event, "o<rank> TEXT" (stdout), "e<rank> TEXT" (stderr), "x<rank> STATUS
// [ERROR]" (the end). Anything else a node's srun prints is srun's own, shown on stderr.
class WireSink final : public RunSink {
 public:
  void line(std::uint32_t rank, bool is_stderr, std::string_view text) override {
    std::cout << (is_stderr ? 'e' : 'o') << rank << ' ' << text << '\n' << std::flush;
  }
  void ended(std::uint32_t rank, int status, std::string_view error) override {
    std::cout << 'x' << rank << ' ' << status << (error.empty() ? "" : " ") << error << '\n' << std::flush;
  }
};

// What the user sees: prefixed lines as they come, or blocks per VM at the end (--gather).
class Printer final : public RunSink {
 public:
  explicit Printer(bool gather) : gather_(gather) {}
  void line(std::uint32_t rank, bool is_stderr, std::string_view text) override {
    if (gather_) {
      auto& block = blocks_[rank];
      (is_stderr ? block.err : block.out).append(text).push_back('\n');
      return;
    }
    (is_stderr ? std::cerr : std::cout) << fmt::format("vm{}: {}\n", rank, text) << std::flush;
  }
  void ended(std::uint32_t rank, int status, std::string_view error) override {
    status_[rank] = status;
    if (!error.empty()) std::cerr << fmt::format("vm: error: {}\n", error);
  }
  // Prints the blocks (--gather), then which VMs failed; returns the worst status.
  int finish(const std::vector<std::uint32_t>& ranks) {
    int worst = 0;
    for (const auto rank : ranks) {
      const auto it = status_.find(rank);
      const int status = it == status_.end() ? exit_code_for(ErrorKind::system) : it->second;
      if (gather_) {
        const auto& b = blocks_[rank];
        std::cout << fmt::format("==> vm{} <== (exit status {})\n{}", rank, status, b.out) << std::flush;
        std::cerr << b.err << std::flush;
      }
      if (it == status_.end()) std::cerr << fmt::format("vm: error: vm{}: no status came back from its node\n", rank);
      worst = std::max(worst, status);
    }
    if (ranks.size() > 1 && worst != 0 && !gather_) {
      std::vector<std::uint32_t> failed;
      for (const auto& [rank, status] : status_) {
        if (status != 0) failed.push_back(rank);
      }
      if (!failed.empty()) std::cerr << fmt::format("vm: {} failed\n", format_vm_set(failed));
    }
    return worst;
  }

 private:
  struct Block {
    std::string out, err;
  };
  bool gather_;
  std::map<std::uint32_t, Block> blocks_;
  std::map<std::uint32_t, int> status_;
};

std::atomic<int> g_run_signal{0};
std::atomic<int> g_run_signal_count{0};
extern "C" void run_client_note_signal(int sig) {
  g_run_signal = sig;
  ++g_run_signal_count;
}

// SIGINT, SIGTERM and SIGHUP noted (poll returns EINTR) while it lives, not fatal.
class StopSignals {
 public:
  StopSignals() {
    struct sigaction sa {};
    sa.sa_handler = run_client_note_signal;
    sigemptyset(&sa.sa_mask);
    for (std::size_t i = 0; i < kSignals.size(); ++i) ::sigaction(kSignals[i], &sa, &old_[i]);
  }
  ~StopSignals() {
    for (std::size_t i = 0; i < kSignals.size(); ++i) ::sigaction(kSignals[i], &old_[i], nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  static constexpr std::array kSignals = {SIGINT, SIGTERM, SIGHUP};
  std::array<struct sigaction, kSignals.size()> old_{};
};

// One wire line from a node into the printer; false when it is not one (srun's own words).
bool feed_wire(std::string_view line, RunSink& sink) {
  if (line.size() < 3 || (line[0] != 'o' && line[0] != 'e' && line[0] != 'x')) return false;
  const auto space = line.find(' ');
  if (space == std::string_view::npos || space < 2) return false;
  std::uint32_t rank = 0;
  for (const char c : line.substr(1, space - 1)) {
    if (c < '0' || c > '9') return false;
    rank = rank * 10 + static_cast<std::uint32_t>(c - '0');
  }
  const std::string_view rest = line.substr(space + 1);
  if (line[0] != 'x') {
    sink.line(rank, line[0] == 'e', rest);
    return true;
  }
  const auto gap = rest.find(' ');
  int status = 0;
  try {
    status = std::stoi(std::string(rest.substr(0, gap)));
  } catch (const std::exception&) {
    return false;
  }
  sink.ended(rank, status, gap == std::string_view::npos ? std::string_view() : rest.substr(gap + 1));
  return true;
}

class RunVerb final : public Verb {
 public:
  void declare(CLI::App& app) override {
    cmd_ = app.add_subcommand("run", "Run a command in many VMs at once through their guest agents");
    add_job_options(cmd_, job_, false);
    cmd_->add_option("-w,--nodelist,--vms", vm_set_, "The VMs: vm[0-7], vm1,vm3 (default: every VM)");
    cmd_->add_flag("-i,--stdin", stdin_, "Send standard input to every VM's command (read to its end first)");
    cmd_->add_option("-u,--user", guest_user_, "Run as this user in the guests (default root; pcocc: your own)");
    cmd_->add_option("--cwd", cwd_, "Run in this directory of the guests");
    cmd_->add_option("-e,--env", env_, "VAR=VALUE for the command, or VAR: its value here (repeatable)")
        ->allow_extra_args(false);
    cmd_->add_flag("--gather", gather_, "Print each VM's output as one block once every VM has ended");
    cmd_->add_flag("--pty", pty_, "Give the command a terminal (one VM; through vm ssh -t: needs its SSH)");
    cmd_->add_option("--timeout", timeout_s_, "Seconds the commands may run (then killed)")
        ->check(CLI::Range(1, 7 * 86400))
        ->capture_default_str();
    cmd_->add_flag("--wire", wire_)->group("");  // on a node, for the vm run that started it
    cmd_->add_option("COMMAND", command_, "The program and its arguments (after --)")->required();
    cmd_->positionals_at_end();
    cmd_->footer(
        "Needs qemu-guest-agent in the guests, not their network. Each output line is prefixed with its\n"
        "VM's name. The exit status is the highest of the commands' (6: one did not end in time).");
  }

  bool selected() const override { return cmd_->parsed(); }

  int run() override {
    if (!command_.empty() && command_.front() == "--") command_.erase(command_.begin());
    if (command_.empty()) throw Error("no command given: vm run [-w VMSET] -- COMMAND...", ErrorKind::usage);
    const GuestCommand command = guest_command();  // the arguments checked before the job is looked for
    const JobDir dir = selected_job_dir(job_);
    const ClusterFile cluster = dir.read_cluster();
    const auto count = static_cast<std::uint32_t>(cluster.node_of_vm.size());
    const auto ranks = parse_vm_set(vm_set_.empty() ? fmt::format("vm[0-{}]", count - 1) : vm_set_, count);
    if (wire_) {
      std::vector<VmFile> vms;
      for (const auto rank : ranks) vms.push_back(require_vm(dir, rank));
      WireSink sink;
      run_in_guests(vms, command, sink);
      return 0;
    }
    if (pty_) return run_with_pty(dir, ranks);
    std::map<std::string, std::vector<std::uint32_t>> by_node;
    for (const auto rank : ranks) by_node[cluster.nodes.at(cluster.node_of_vm.at(rank))].push_back(rank);
    Printer printer(gather_);
    const int interrupted = fan_out(cluster, by_node, command, printer);
    const int worst = printer.finish(ranks);
    return interrupted != 0 ? 128 + interrupted : worst;
  }

 private:
  GuestCommand guest_command() const {
    GuestCommand c;
    c.argv = command_;
    for (const auto& e : env_) {
      const auto eq = e.find('=');
      const std::string name = e.substr(0, eq);
      if (name.empty() || name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
                              std::string::npos) {
        throw Error(fmt::format("--env {}: VAR=VALUE or VAR, VAR a variable name", e), ErrorKind::usage);
      }
      if (eq != std::string::npos) {
        c.env.push_back(e);
      } else if (const char* v = std::getenv(name.c_str())) {
        c.env.push_back(name + "=" + v);
      }
    }
    if (!guest_user_.empty()) c.user = guest_user_;
    if (!cwd_.empty()) c.cwd = cwd_;
    if (stdin_) c.input = std::string((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    c.timeout = std::chrono::seconds(timeout_s_);
    return c;
  }

  // The arguments of `vm run --wire` on a node, for `ranks` there.
  std::vector<std::string> wire_args(std::uint32_t job_id, const std::vector<std::uint32_t>& ranks,
                                     const GuestCommand& c) const {
    std::vector<std::string> a = {self_executable().string(), "run", "--wire", "-j", std::to_string(job_id), "-w",
                                  format_vm_set(ranks), fmt::format("--timeout={}", timeout_s_)};
    for (const auto& e : c.env) a.insert(a.end(), {"-e", e});
    if (c.user) a.insert(a.end(), {"-u", *c.user});
    if (c.cwd) a.insert(a.end(), {"--cwd", *c.cwd});
    if (c.input) a.push_back("-i");
    a.push_back("--");
    a.insert(a.end(), c.argv.begin(), c.argv.end());
    return a;
  }

  // One srun per node, at once; their wire lines go to `printer` as they come. Interrupted
  // (SIGINT, SIGTERM, SIGHUP), it stops the guests' commands through the sruns and returns the
  // signal; otherwise 0.
  int fan_out(const ClusterFile& cluster, const std::map<std::string, std::vector<std::uint32_t>>& by_node,
               const GuestCommand& command, RunSink& printer) const {
    const StopSignals stop;
    struct Node {
      ChildProcess srun;
      UniqueFd out;
      std::string pending;
    };
    std::vector<Node> nodes;
    for (const auto& [node, ranks] : by_node) {
      int pipefd[2];
      if (::pipe2(pipefd, O_CLOEXEC) != 0) throw Error::from_errno("pipe", errno);
      UniqueFd read_end(pipefd[0]), write_end(pipefd[1]);
      Command c;
      c.argv = cluster.step_options(node);
      c.argv.insert(c.argv.begin(), "srun");
      c.argv.insert(c.argv.end(), {"--overlap", "--mem=0", fmt::format("--nodelist={}", node),
                "--nodes=1", "--ntasks=1", "--quiet", "--job-name=vm-run",
                fmt::format("--export=ALL,SLURM_VM_ON_NODE={}", node)});
      const auto args = wire_args(cluster.job_id, ranks, command);
      c.argv.insert(c.argv.end(), args.begin(), args.end());
      c.search_path = true;
      c.inherit_env = true;
      c.output_fd = write_end.get();
      // The standard input every command gets: a copy per node (a shared offset would split it).
      std::optional<UniqueFd> saved_stdin;
      if (command.input) {
        UniqueFd mem(::memfd_create("vm-run-stdin", MFD_CLOEXEC));
        if (!mem || ::write(mem.get(), command.input->data(), command.input->size()) !=
                        static_cast<ssize_t>(command.input->size()) ||
            ::lseek(mem.get(), 0, SEEK_SET) != 0) {
          throw Error::from_errno("keeping standard input for the nodes", errno);
        }
        saved_stdin.emplace(::dup(STDIN_FILENO));
        ::dup2(mem.get(), STDIN_FILENO);
        c.inherit_stdin = true;
      }
      log_debug("on {}: {}", node, format_argv(c.argv));
      nodes.push_back({spawn(c), std::move(read_end), {}});
      if (saved_stdin) ::dup2(saved_stdin->get(), STDIN_FILENO);
    }
    // Until every node's output has ended (its srun gone, the pipe closed).
    int asked = 0;
    std::optional<std::chrono::steady_clock::time_point> cancel_at;
    for (;;) {
      if (const int sig = g_run_signal; sig != 0 && asked == 0) {
        // srun forwards SIGUSR1 to `vm run --wire`, which stops its commands (SIGTERM, SIGKILL 5
        // s later) and reports them; a SIGTERM would have srun cancel the step and leave them.
        asked = sig;
        std::cerr << fmt::format("vm: stopping the commands (again: at once)\n");
        for (auto& n : nodes) {
          if (n.srun.running()) ::kill(n.srun.pid(), SIGUSR1);
        }
        cancel_at = std::chrono::steady_clock::now() + std::chrono::seconds(15);
      }
      if (cancel_at && (g_run_signal_count > 1 || std::chrono::steady_clock::now() >= *cancel_at)) {
        for (auto& n : nodes) {
          if (n.srun.running()) ::kill(n.srun.pid(), SIGTERM);  // srun cancels its step
        }
        cancel_at.reset();
      }
      std::vector<pollfd> fds;
      std::vector<Node*> polled;
      for (auto& n : nodes) {
        if (!n.out) continue;
        fds.push_back({n.out.get(), POLLIN, 0});
        polled.push_back(&n);
      }
      if (fds.empty()) break;
      if (::poll(fds.data(), fds.size(), 1000) < 0) {
        if (errno == EINTR) continue;
        throw Error::from_errno("poll", errno);
      }
      for (std::size_t i = 0; i < fds.size(); ++i) {
        // Only a node with something to say: a read of a quiet one would hold up the others.
        if (fds[i].revents == 0) continue;
        Node& n = *polled[i];
        char buf[16384];
        const ssize_t got = ::read(n.out.get(), buf, sizeof buf);
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (got <= 0) {
          if (!n.pending.empty()) n.pending.push_back('\n');
          split_lines(n.pending, "", [&](std::string_view l) { if (!feed_wire(l, printer)) std::cerr << l << '\n'; });
          n.out.reset();
          continue;
        }
        split_lines(n.pending, std::string_view(buf, static_cast<std::size_t>(got)),
                    [&](std::string_view l) { if (!feed_wire(l, printer)) std::cerr << l << '\n'; });
      }
    }
    for (auto& n : nodes) n.srun.wait_for(std::chrono::seconds(30));
    return asked;
  }

  // A terminal for one VM's command: the agent has none, SSH has.
  int run_with_pty(const JobDir& dir, const std::vector<std::uint32_t>& ranks) const {
    if (ranks.size() != 1) {
      throw Error(fmt::format("--pty gives one VM a terminal: name it with -w (here: {})", format_vm_set(ranks)),
                  ErrorKind::usage);
    }
    if (stdin_) throw Error("--pty and -i: the terminal is the command's standard input", ErrorKind::usage);
    std::string remote;
    if (!cwd_.empty()) remote += "cd " + sh_quote(cwd_) + " && ";
    remote += "exec";
    if (!env_.empty()) {
      remote += " env";
      for (const auto& e : guest_command().env) remote += " " + sh_quote(e);
    }
    for (const auto& w : command_) remote += " " + sh_quote(w);
    const std::string target = fmt::format("{}vm{}", guest_user_.empty() ? "root@" : guest_user_ + "@", ranks.front());
    exec_program({self_executable().string(), "ssh", "-j", std::to_string(dir.job_id()), "-t", target, remote},
                 "cannot run vm ssh");
  }

  CLI::App* cmd_ = nullptr;
  JobSelection job_;
  std::string vm_set_;
  bool stdin_ = false;
  std::string guest_user_;
  std::string cwd_;
  std::vector<std::string> env_;
  bool gather_ = false;
  bool pty_ = false;
  bool wire_ = false;
  int timeout_s_ = 86400;
  std::vector<std::string> command_;
};

}  // namespace

std::unique_ptr<Verb> make_run_verb() { return std::make_unique<RunVerb>(); }

}  // namespace slurmvm::cli
