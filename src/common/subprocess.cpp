#include "subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "error.hpp"
#include "unique_fd.hpp"

extern char** environ;

namespace slurmvm {
namespace {

using Clock = std::chrono::steady_clock;

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw Error::from_errno("pipe2", errno);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

std::vector<std::string> build_env(const Command& cmd) {
  std::vector<std::string> env;
  if (cmd.inherit_env) {
    for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  }
  for (const auto& name : cmd.env_allow) {
    if (const char* v = std::getenv(name.c_str())) env.push_back(name + "=" + v);
  }
  for (const auto& kv : cmd.env_set) {
    const auto key = kv.substr(0, kv.find('=') + 1);
    std::erase_if(env, [&](const std::string& e) { return e.starts_with(key); });
    env.push_back(kv);
  }
  return env;
}

std::vector<char*> to_cstrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// posix_spawn_file_actions_t with a destructor.
class FileActions {
 public:
  FileActions() { posix_spawn_file_actions_init(&fa_); }
  ~FileActions() { posix_spawn_file_actions_destroy(&fa_); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
  posix_spawn_file_actions_t* get() { return &fa_; }

 private:
  posix_spawn_file_actions_t fa_;
};

class SpawnAttr {
 public:
  SpawnAttr() { posix_spawnattr_init(&attr_); }
  ~SpawnAttr() { posix_spawnattr_destroy(&attr_); }
  SpawnAttr(const SpawnAttr&) = delete;
  SpawnAttr& operator=(const SpawnAttr&) = delete;
  posix_spawnattr_t* get() { return &attr_; }

 private:
  posix_spawnattr_t attr_;
};

int wait_status_to_result(int status, RunResult& r) {
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  return 0;
}

// Reads what is ready on fd into sink; returns false at EOF.
bool drain(int fd, std::string& sink) {
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      sink.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN;  // EAGAIN: nothing more now; other errors: treat as EOF
  }
}

}  // namespace

std::string format_argv(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    const bool plain = !a.empty() && a.find_first_not_of(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == std::string::npos;
    if (plain) {
      out += a;
    } else {
      out += '\'';
      for (char c : a) out += (c == '\'') ? std::string("'\\''") : std::string(1, c);
      out += '\'';
    }
  }
  return out;
}

namespace {

// Starts cmd with the given pipes as the child's stdin/stdout/stderr (nullopt: stdin from
// /dev/null, stdout/stderr inherited). Returns the child's pid.
pid_t start_child(const Command& cmd, const std::optional<Pipe>& in, const std::optional<Pipe>& out,
                  const std::optional<Pipe>& err) {
  if (cmd.argv.empty()) throw Error("run: empty argv", ErrorKind::internal);
  if (!cmd.search_path && !cmd.argv[0].starts_with('/')) {
    throw Error(fmt::format("run: {} is not an absolute path", cmd.argv[0]), ErrorKind::internal);
  }

  FileActions fa;
  if (in) {
    posix_spawn_file_actions_adddup2(fa.get(), in->read.get(), STDIN_FILENO);
  } else if (!cmd.inherit_stdin) {
    posix_spawn_file_actions_addopen(fa.get(), STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  }
  if (out) posix_spawn_file_actions_adddup2(fa.get(), out->write.get(), STDOUT_FILENO);
  if (err) posix_spawn_file_actions_adddup2(fa.get(), err->write.get(), STDERR_FILENO);
  if (!out && !err && cmd.output_fd >= 0) {
    posix_spawn_file_actions_adddup2(fa.get(), cmd.output_fd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(fa.get(), cmd.output_fd, STDERR_FILENO);
  }
  // Nothing of ours leaks into the child: fds the caller forgot to mark O_CLOEXEC included.
  posix_spawn_file_actions_addclosefrom_np(fa.get(), 3);

  SpawnAttr attr;
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(attr.get(), &all);
  posix_spawnattr_setsigmask(attr.get(), &none);
  short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
  if (cmd.new_process_group) {
    // Own process group: a timeout kills the child and whatever it started.
    posix_spawnattr_setpgroup(attr.get(), 0);
    flags |= POSIX_SPAWN_SETPGROUP;
  }
  posix_spawnattr_setflags(attr.get(), flags);

  std::vector<std::string> argv_copy = cmd.argv;
  std::vector<std::string> env = build_env(cmd);
  auto argv_c = to_cstrings(argv_copy);
  auto env_c = to_cstrings(env);

  pid_t pid = -1;
  int rc = cmd.search_path
               ? posix_spawnp(&pid, argv_c[0], fa.get(), attr.get(), argv_c.data(), env_c.data())
               : posix_spawn(&pid, argv_c[0], fa.get(), attr.get(), argv_c.data(), env_c.data());
  if (rc != 0) throw Error::from_errno(fmt::format("cannot run {}", cmd.argv[0]), rc);
  return pid;
}

}  // namespace

RunResult run(const Command& cmd) {
  std::optional<Pipe> in, out, err;
  if (cmd.stdin_data) in = make_pipe();
  if (cmd.capture_stdout) out = make_pipe();
  if (cmd.capture_stderr) err = make_pipe();
  const pid_t pid = start_child(cmd, in, out, err);

  // The parent keeps only its ends.
  if (in) in->read.reset();
  if (out) out->write.reset();
  if (err) err->write.reset();

  RunResult result;
  std::string_view pending_in = cmd.stdin_data ? std::string_view(*cmd.stdin_data) : "";
  if (in) fcntl(in->write.get(), F_SETFL, O_NONBLOCK);
  if (out) fcntl(out->read.get(), F_SETFL, O_NONBLOCK);
  if (err) fcntl(err->read.get(), F_SETFL, O_NONBLOCK);
  if (in && pending_in.empty()) in->write.reset();

  // A pidfd becomes readable when the child exits, so one poll() waits for output, exit and
  // deadline together (Linux >= 5.3); without it we fall back to waking up every 20 ms.
  // (glibc 2.36's <sys/pidfd.h> lacks extern "C", so call the system call directly.)
  UniqueFd child_fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));

  const auto deadline = Clock::now() + cmd.timeout;
  auto kill_at = Clock::time_point::max();
  bool exited = false;
  int status = 0;

  while (!exited) {
    // Reap first: a child that has exited may have left grandchildren holding our pipes.
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      exited = true;
      break;
    }
    const auto now = Clock::now();
    if (!result.timed_out && now >= deadline) {
      result.timed_out = true;
      ::kill(cmd.new_process_group ? -pid : pid, SIGTERM);
      kill_at = now + cmd.kill_grace;
    }
    if (result.timed_out && now >= kill_at) {
      ::kill(cmd.new_process_group ? -pid : pid, SIGKILL);
      kill_at = Clock::time_point::max();
    }

    std::vector<pollfd> fds;
    if (in && in->write) fds.push_back({in->write.get(), POLLOUT, 0});
    if (out && out->read) fds.push_back({out->read.get(), POLLIN, 0});
    if (err && err->read) fds.push_back({err->read.get(), POLLIN, 0});

    if (child_fd) fds.push_back({child_fd.get(), POLLIN, 0});

    const auto next_event = result.timed_out ? kill_at : deadline;
    auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(next_event - now).count() + 1;
    if (!child_fd) wait_ms = std::min<decltype(wait_ms)>(wait_ms, 20);
    if (fds.empty()) {
      ::usleep(static_cast<useconds_t>(wait_ms) * 1000);
      continue;
    }
    int n = ::poll(fds.data(), fds.size(), static_cast<int>(std::min<decltype(wait_ms)>(wait_ms, 60000)));
    if (n < 0 && errno != EINTR) throw Error::from_errno("poll", errno);
    for (const auto& p : fds) {
      if (p.revents == 0) continue;
      if (in && p.fd == in->write.get()) {
        ssize_t k = ::write(p.fd, pending_in.data(), pending_in.size());
        if (k > 0) pending_in.remove_prefix(static_cast<size_t>(k));
        if (k < 0 && errno != EAGAIN && errno != EINTR) pending_in = {};
        if (pending_in.empty()) in->write.reset();
      } else if (out && p.fd == out->read.get()) {
        if (!drain(p.fd, result.out)) out->read.reset();
      } else if (err && p.fd == err->read.get()) {
        if (!drain(p.fd, result.err)) err->read.reset();
      }
    }
  }
  // Collect what the child wrote before exiting; do not wait for grandchildren that keep
  // the pipe open (they belong to the child's process group and are not ours to wait for).
  if (out && out->read) drain(out->read.get(), result.out);
  if (err && err->read) drain(err->read.get(), result.err);
  wait_status_to_result(status, result);
  return result;
}

ChildProcess spawn(const Command& cmd) {
  ChildProcess child;
  child.pid_ = start_child(cmd, std::nullopt, std::nullopt, std::nullopt);
  child.own_group_ = cmd.new_process_group;
  return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), own_group_(other.own_group_), status_(std::move(other.status_)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (running()) stop(SIGKILL, std::chrono::milliseconds(0));
    pid_ = std::exchange(other.pid_, -1);
    own_group_ = other.own_group_;
    status_ = std::move(other.status_);
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (running()) stop(SIGKILL, std::chrono::milliseconds(0));
}

std::optional<RunResult> ChildProcess::poll() {
  if (status_ || pid_ <= 0) return status_;
  int status = 0;
  const pid_t w = ::waitpid(pid_, &status, WNOHANG);
  if (w == pid_) {
    RunResult r;
    wait_status_to_result(status, r);
    status_ = r;
  }
  return status_;
}

std::optional<RunResult> ChildProcess::wait_for(std::chrono::milliseconds timeout) {
  if (pid_ <= 0 || poll()) return status_;
  UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
  const auto deadline = Clock::now() + timeout;
  while (!poll()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    if (fd) {
      pollfd p{fd.get(), POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 60000)));
    } else {
      ::usleep(static_cast<useconds_t>(std::min<long long>(left, 20)) * 1000);
    }
  }
  return status_;
}

RunResult ChildProcess::stop(int sig, std::chrono::milliseconds grace) {
  if (pid_ <= 0) return {};
  if (!poll()) {
    ::kill(own_group_ ? -pid_ : pid_, sig);
    if (!wait_for(grace)) {
      ::kill(own_group_ ? -pid_ : pid_, SIGKILL);
      // SIGKILL cannot be ignored; only a process stuck in the kernel outlives this wait.
      wait_for(std::chrono::seconds(10));
    }
  }
  if (!status_) {
    RunResult stuck;
    stuck.signal = SIGKILL;
    stuck.timed_out = true;
    return stuck;
  }
  return *status_;
}

RunResult run_checked(const Command& cmd) {
  RunResult r = run(cmd);
  if (r.ok()) return r;
  std::string tail = r.err.size() > 2000 ? r.err.substr(r.err.size() - 2000) : r.err;
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) tail.pop_back();
  std::string what;
  if (r.timed_out) {
    what = fmt::format("{} did not finish within {} ms", format_argv(cmd.argv), cmd.timeout.count());
  } else if (r.signal != 0) {
    what = fmt::format("{} was killed by signal {}", format_argv(cmd.argv), r.signal);
  } else {
    what = fmt::format("{} exited with status {}", format_argv(cmd.argv), r.exit_code);
  }
  if (!tail.empty()) what += ": " + tail;
  throw Error(what, r.timed_out ? ErrorKind::timeout : ErrorKind::system);
}

}  // namespace slurmvm
