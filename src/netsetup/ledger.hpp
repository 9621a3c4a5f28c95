// The ledger: every change a root helper makes to a node (a TAP, an OVS port, flows, NAT
// rules) is written down, one JSON object per line and fsync'ed, BEFORE the change is made.
// The epilog, or the next prolog reclaiming a job that died with its node, undoes the
// ledger in reverse. Undo handlers must treat "already gone" as success, because a ledger
// may name a change that never happened (crash right after the record) or was undone by an
// earlier, interrupted epilog. See docs/netsetup.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "unique_fd.hpp"

namespace slurmvm::netsetup {

// The ledger file of a job in `dir`: "<dir>/<job_id>.jsonl".
std::filesystem::path ledger_path(const std::filesystem::path& dir, std::uint32_t job_id);

// An open ledger, appended to by the prolog. Holds an exclusive flock(2) on the file while
// it lives, so that an epilog cannot undo a job whose prolog is still working.
class Ledger {
 public:
  // Creates `dir` (mode 0700, missing parents too) if needed and refuses a directory that is
  // a symlink, not ours, or accessible by group/others. Opens or creates the job's file with
  // O_APPEND|O_CLOEXEC|O_NOFOLLOW, mode 0600; a torn last line left by a crash is cut off
  // (the change it described was never started). Waits up to `lock_timeout` for the lock.
  static Ledger open(const std::filesystem::path& dir, std::uint32_t job_id,
                     std::chrono::milliseconds lock_timeout = std::chrono::seconds(10));

  // Appends one action and fsyncs it. `action` must be an object with a non-empty string
  // member "op" (e.g. {"op":"tap.create","name":"svm42-0","owner":1000}). Call BEFORE making
  // the change. Throws Error on a short write or a failed fsync.
  void record(const nlohmann::json& action);

  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  Ledger(UniqueFd fd, std::filesystem::path path) : fd_(std::move(fd)), path_(std::move(path)) {}
  UniqueFd fd_;
  std::filesystem::path path_;
};

// One complete, valid line of a ledger.
struct LedgerEntry {
  std::size_t line = 0;    // 1-based line number
  nlohmann::json action;   // an object with a non-empty string "op"
};

// A ledger as read back.
struct LedgerContents {
  std::vector<LedgerEntry> entries;     // in file order
  bool torn_tail = false;               // the last line had no newline and was ignored
  // 1-based line numbers of complete lines that are not a JSON object with a string "op".
  std::vector<std::size_t> corrupt_lines;
};

// Parses ledger text (separate from I/O so it is tested without files).
LedgerContents parse_ledger(std::string_view text);

// Reads a ledger file (O_NOFOLLOW). Throws Error(not_found) when it does not exist.
LedgerContents read_ledger(const std::filesystem::path& file);

// Undoes one recorded action. Must succeed when the thing is already gone; throws Error
// (any kind) when the undo failed.
using UndoHandler = std::function<void(const nlohmann::json& action)>;
// Handlers by op name ("tap.create" -> delete that TAP).
using UndoHandlers = std::map<std::string, UndoHandler, std::less<>>;

struct UndoFailure {
  std::size_t line = 0;  // 1-based line in the ledger; 0: `settle`, after the last handler
  std::string op;        // empty for a corrupt line
  std::string error;     // what the handler (or the parser) said
};

struct UndoReport {
  bool ledger_found = false;     // false: no ledger for this job (nothing to do: success)
  std::size_t undone = 0;        // handlers that returned normally
  bool torn_tail = false;
  std::vector<UndoFailure> failures;  // in the order they happened (reverse file order)
  bool removed = false;          // the ledger file was deleted (only when failures is empty)

  bool ok() const noexcept { return failures.empty(); }
};

// Replays the job's ledger in reverse, calling the handler of each action's "op". A failing
// handler (or an op without a handler, or a corrupt line) does not stop the replay: the
// earlier actions are still undone, because every undo is idempotent and a half-cleaned node
// is worse than a retried one. The file is removed only when every undo succeeded; otherwise
// it is kept whole, so the next attempt replays everything again. Waits up to `lock_timeout`
// for a prolog still holding the ledger. `settle`, when given, runs after the last handler and
// before the file's fate is decided: it waits for what handlers left running (a link group's
// deletion, node_effects.hpp) and throws if that failed, which keeps the ledger too.
UndoReport undo_ledger(const std::filesystem::path& dir, std::uint32_t job_id,
                       const UndoHandlers& handlers,
                       std::chrono::milliseconds lock_timeout = std::chrono::seconds(10),
                       const std::function<void()>& settle = {});

// The job ids that have a ledger in `dir` (sorted). Files not named "<digits>.jsonl" are
// ignored. A missing directory is an empty list. The caller decides which of these jobs
// Slurm no longer runs and undoes those.
std::vector<std::uint32_t> list_ledgers(const std::filesystem::path& dir);

}  // namespace slurmvm::netsetup
