// Commands in several VMs through their guest agents (guest_run.hpp).
#include "guest_run.hpp"

#include <signal.h>

#include <array>
#include <atomic>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "base64.hpp"
#include "error.hpp"
#include "log.hpp"
#include "qmp.hpp"

namespace slurmvm::cli {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

// The command's output files, created by the root shell of the agent before it becomes the
// user's command: noclobber (O_EXCL) under a random name, so a guest user's link or file there
// makes it fail (status 125) instead of writing through it.
constexpr const char* kWrapper =
    "set -C\n"
    "o=$1 cwd=$2 user=$3\n"
    "shift 4\n"
    "command exec >\"$o.out\" 2>\"$o.err\" || exit 125\n"
    "if [ -n \"$cwd\" ]; then cd -- \"$cwd\" || exit 126; fi\n"
    // Its own process group, so that stopping it reaches what it started too. setsid keeps the
    // pid the agent knows only when it need not fork: when the wrapper leads no group (as the
    // agent's child); one that does already leads its own. Without setsid, the command alone.
    "s= pg=\n"
    "read -r _ _ _ _ pg _ </proc/$$/stat 2>/dev/null\n"
    "if [ \"$pg\" != \"$$\" ] && command -v setsid >/dev/null 2>&1; then s=setsid; fi\n"
    "if [ -n \"$user\" ]; then\n"
    // util-linux's setpriv (busybox's cannot change users), else su (busybox's too).
    "  if setpriv --help 2>&1 | grep -q -e --reuid; then\n"
    "    g=$(id -g -- \"$user\") || exit 126\n"
    "    exec $s setpriv --reuid=\"$user\" --regid=\"$g\" --init-groups -- \"$@\"\n"
    "  fi\n"
    // `--`: the command's own options (id -u) are not su's; the rest goes to the shell.
    "  exec $s su -s /bin/sh -- \"$user\" -c 'exec \"$0\" \"$@\"' \"$@\"\n"
    "fi\n"
    "exec $s \"$@\"\n";

// How long a stopped command has between SIGTERM and SIGKILL.
constexpr std::chrono::seconds kStopGrace{5};

constexpr std::int64_t kReadChunk = 48 * 1024;  // QGA's replies are base64 JSON: keep them small

std::atomic<int> g_signal{0};
extern "C" void run_note_signal(int sig) { g_signal = sig; }

std::string random_token() {
  std::random_device rd;
  return fmt::format("{:08x}{:08x}{:08x}{:08x}", rd(), rd(), rd(), rd());
}

// One VM's command, from guest-exec to its status.
struct Guest {
  const VmFile* vm = nullptr;
  std::optional<QmpClient> agent;
  std::string base;  // /tmp/slurm-vm-run.<token>: .out and .err
  std::int64_t pid = 0;
  std::optional<std::int64_t> out, err;  // guest-file handles
  std::string out_pending, err_pending;
  std::optional<std::int64_t> rm_pid;  // the unlinking rm: reaped at the end (QGA keeps its status)
  bool done = false;
};

void finish(Guest& g, RunSink& sink, int status, std::string_view error) {
  if (g.rm_pid && g.agent) {
    try {
      g.agent->execute("guest-exec-status", {{"pid", *g.rm_pid}});
    } catch (const Error&) {
    }
  }
  for (auto* h : {&g.out, &g.err}) {
    if (!*h || !g.agent) continue;
    try {
      g.agent->execute("guest-file-close", {{"handle", **h}});
    } catch (const Error&) {
    }
    h->reset();
  }
  if (!g.out_pending.empty()) sink.line(g.vm->rank, false, g.out_pending);
  if (!g.err_pending.empty()) sink.line(g.vm->rank, true, g.err_pending);
  g.out_pending.clear();
  g.err_pending.clear();
  sink.ended(g.vm->rank, status, error);
  g.done = true;
}

// Opens the output files once the wrapper has made them; true when both are open.
bool open_outputs(Guest& g) {
  for (auto [h, suffix] : {std::pair{&g.out, ".out"}, std::pair{&g.err, ".err"}}) {
    if (*h) continue;
    try {
      *h = g.agent->execute("guest-file-open", {{"path", g.base + suffix}, {"mode", "r"}}).get<std::int64_t>();
    } catch (const Error&) {
      return false;  // not made yet
    }
  }
  if (!g.rm_pid) {
    // Held open by the agent from now on: nothing is left in the guest, whatever happens next.
    g.rm_pid = g.agent
                   ->execute("guest-exec", {{"path", "rm"}, {"arg", {"-f", "--", g.base + ".out", g.base + ".err"}}})
                   .at("pid")
                   .get<std::int64_t>();
  }
  return true;
}

// Reads what the command wrote since the last look; true when anything came.
bool drain(Guest& g, RunSink& sink) {
  bool any = false;
  for (auto [h, pending, err] : {std::tuple{&g.out, &g.out_pending, false}, std::tuple{&g.err, &g.err_pending, true}}) {
    if (!*h) continue;
    const bool is_err = err;  // a lambda below uses it: clang before 16 captures no binding
    for (;;) {
      const json r = g.agent->execute("guest-file-read", {{"handle", **h}, {"count", kReadChunk}});
      const auto n = r.value("count", std::int64_t{0});
      if (n <= 0) break;
      any = true;
      split_lines(*pending, base64_decode(r.value("buf-b64", "")),
                  [&](std::string_view line) { sink.line(g.vm->rank, is_err, line); });
      if (n < kReadChunk) break;
    }
  }
  return any;
}

void start(Guest& g, const GuestCommand& c) {
  g.agent.emplace(QmpClient::connect_guest_agent(g.vm->agent, 10s));
  g.base = "/tmp/slurm-vm-run." + random_token();
  std::vector<std::string> args = {"-c", kWrapper, "vm-run", g.base, c.cwd.value_or(""), c.user.value_or(""), "--"};
  if (!c.env.empty()) {
    args.push_back("env");
    args.insert(args.end(), c.env.begin(), c.env.end());
  }
  args.insert(args.end(), c.argv.begin(), c.argv.end());
  json req = {{"path", "/bin/sh"}, {"arg", args}, {"capture-output", false}};
  if (c.input) req["input-data"] = base64_encode(*c.input);
  g.pid = g.agent->execute("guest-exec", req).at("pid").get<std::int64_t>();
}

// The command's process group (the wrapper's setsid), else the command alone.
constexpr const char* kSignalCommand = "kill -s \"$1\" -- \"-$2\" 2>/dev/null || kill -s \"$1\" -- \"$2\"";

void signal_command(Guest& g, const char* sig) {
  try {
    g.agent->execute("guest-exec", {{"path", "/bin/sh"},
                                    {"arg", {"-c", kSignalCommand, "vm-run-kill", sig, std::to_string(g.pid)}}});
  } catch (const Error&) {
  }
}

}  // namespace

const char* guest_run_wrapper() { return kWrapper; }

void run_in_guests(const std::vector<VmFile>& vms, const GuestCommand& command, RunSink& sink) {
  // SIGUSR1 is how `vm run` on the login node asks: srun forwards it to its task, where a
  // SIGTERM to srun would cancel the step (SIGKILL) at once.
  constexpr std::array kStopSignals = {SIGINT, SIGTERM, SIGHUP, SIGUSR1};
  struct sigaction sa {};
  std::array<struct sigaction, kStopSignals.size()> old{};
  sa.sa_handler = run_note_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (std::size_t i = 0; i < kStopSignals.size(); ++i) ::sigaction(kStopSignals[i], &sa, &old[i]);

  std::vector<Guest> guests(vms.size());
  for (std::size_t i = 0; i < vms.size(); ++i) {
    guests[i].vm = &vms[i];
    try {
      start(guests[i], command);
    } catch (const Error& e) {
      finish(guests[i], sink, exit_code_for(e.kind()), fmt::format("{} on {}: {}", vms[i].name, vms[i].node, e.what()));
    }
  }
  auto deadline = Clock::now() + command.timeout;
  bool stopping = false;
  auto pause = 20ms;
  for (;;) {
    bool running = false, progress = false;
    if (g_signal != 0 && !stopping) {
      // SIGTERM, then the --timeout path (SIGKILL) once the grace has passed.
      stopping = true;
      for (auto& g : guests) {
        if (!g.done) signal_command(g, "TERM");
      }
      deadline = std::min(deadline, Clock::now() + kStopGrace);
    }
    const bool late = Clock::now() >= deadline;
    for (auto& g : guests) {
      if (g.done) continue;
      try {
        const json st = g.agent->execute("guest-exec-status", {{"pid", g.pid}});
        const bool exited = st.value("exited", false);
        if (open_outputs(g)) progress |= drain(g, sink);
        if (exited) {
          if (!g.out && !g.err) open_outputs(g);  // a command quicker than our first look
          drain(g, sink);
          const int status = st.contains("signal") ? 128 + st.at("signal").get<int>() : st.value("exitcode", 0);
          finish(g, sink, status, "");
          progress = true;
          continue;
        }
        if (late) {
          signal_command(g, "KILL");
          if (stopping) {
            finish(g, sink, 128 + SIGKILL,
                   fmt::format("{}: did not end within {} s of SIGTERM; killed", g.vm->name, kStopGrace.count()));
          } else {
            finish(g, sink, exit_code_for(ErrorKind::timeout),
                   fmt::format("{}: did not end within {} s (--timeout); killed", g.vm->name, command.timeout.count()));
          }
          continue;
        }
        running = true;
      } catch (const Error& e) {
        finish(g, sink, exit_code_for(e.kind()), fmt::format("{} on {}: {}", g.vm->name, g.vm->node, e.what()));
      }
    }
    if (!running) break;
    pause = progress ? 20ms : std::min(pause * 2, std::chrono::milliseconds(200));
    std::this_thread::sleep_for(pause);
  }
  for (std::size_t i = 0; i < kStopSignals.size(); ++i) ::sigaction(kStopSignals[i], &old[i], nullptr);
}

}  // namespace slurmvm::cli
