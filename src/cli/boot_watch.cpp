// What vm boot watches (boot_watch.hpp).
#include "boot_watch.hpp"

#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

#include <fmt/format.h>

#include "checkpoint.hpp"
#include "error.hpp"
#include "file_read.hpp"
#include "log.hpp"
#include "vm_record.hpp"

namespace slurmvm::cli {
namespace {

// SIGTTOU ignored while it lives: a background process group may then set the terminal's
// foreground group.
class IgnoreSigttou {
 public:
  IgnoreSigttou() {
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    ::sigaction(SIGTTOU, &ign, &old_);
  }
  ~IgnoreSigttou() { ::sigaction(SIGTTOU, &old_, nullptr); }
  IgnoreSigttou(const IgnoreSigttou&) = delete;
  IgnoreSigttou& operator=(const IgnoreSigttou&) = delete;

 private:
  struct sigaction old_ {};
};

}  // namespace

bool report_checkpoint(const std::filesystem::path& job_dir, std::uint32_t job_id) {
  const auto where = read_file_if_exists(job_dir / kCheckpointedMarker, 4096);
  if (!where) return false;
  std::cerr << fmt::format("vm: job {}: the cluster was checkpointed to {}; vm alloc -r (or vm batch -r) restores it\n",
                           job_id, where->substr(0, where->find('\n')));
  return true;
}

std::uintmax_t size_or_zero(const std::filesystem::path& file) {
  std::error_code ec;
  const auto n = std::filesystem::file_size(file, ec);
  return ec ? 0 : n;
}

std::string read_file_from(const std::filesystem::path& file, std::uintmax_t offset) {
  constexpr std::uintmax_t kMax = 4u << 20;
  std::ifstream in(file, std::ios::binary);
  if (!in) return {};
  const std::uintmax_t size = size_or_zero(file);
  if (size > offset + kMax) offset = size - kMax;
  in.seekg(static_cast<std::streamoff>(offset));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string console_tail(const std::filesystem::path& log, std::size_t lines) {
  std::ifstream in(log);
  if (!in) return "  (no console log yet)\n";
  std::vector<std::string> last;
  for (std::string line; std::getline(in, line);) {
    last.push_back(line);
    if (last.size() > lines) last.erase(last.begin());
  }
  std::string out;
  for (auto& l : last) {
    if (!l.empty() && l.back() == '\r') l.pop_back();  // a serial console's line ends
    out += "  | " + escape_for_log(l, 512) + "\n";
  }
  return out;
}

std::optional<std::string> launch_failure(const std::filesystem::path& vm_dir) {
  const auto file = vm_dir / kLaunchErrorFile;
  try {
    const auto text = read_file_if_exists(file, 64 * 1024);
    if (!text) return std::nullopt;
    const LaunchFailure f = parse_launch_failure(*text, file.string());
    return fmt::format("on {}: {}", escape_for_log(f.node, 256), escape_for_log(f.message));
  } catch (const Error& e) {
    return fmt::format("its reason is unreadable: {}", e.what());
  }
}

TerminalHandover::TerminalHandover(pid_t group) {
  if (group <= 0 || ::isatty(STDIN_FILENO) == 0 || ::tcgetpgrp(STDIN_FILENO) != ::getpgrp()) return;
  const IgnoreSigttou quiet;
  if (::tcsetpgrp(STDIN_FILENO, group) != 0) return;
  handed_ = true;
  // It may have touched the terminal before it was its own, and been stopped for it.
  ::kill(-group, SIGCONT);
}

TerminalHandover::~TerminalHandover() {
  if (!handed_) return;
  const IgnoreSigttou quiet;  // we are a background group until this returns
  (void)::tcsetpgrp(STDIN_FILENO, ::getpgrp());
}

bool ConsoleWatch::seen(const std::filesystem::path& log, const std::string& marker) {
  if (found_) return true;
  std::ifstream in(log, std::ios::binary);
  if (!in) return false;
  in.seekg(static_cast<std::streamoff>(offset_));
  std::string fresh((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  offset_ += fresh.size();
  tail_ += fresh;
  found_ = tail_.find(marker) != std::string::npos;
  // Keep what a marker split across two reads needs.
  if (tail_.size() > marker.size()) tail_.erase(0, tail_.size() - marker.size());
  return found_;
}

}  // namespace slurmvm::cli
