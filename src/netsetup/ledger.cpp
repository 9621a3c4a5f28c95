#include "netsetup/ledger.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "error.hpp"
#include "file_lock.hpp"
#include "log.hpp"
#include "private_dir.hpp"

namespace slurmvm::netsetup {
namespace {

namespace fs = std::filesystem;

// The ledger directory is where root reads instructions for what to delete: anyone else able
// to write there could make the epilog delete arbitrary TAPs or ports. So it must be a real
// directory (no symlink), owned by us, closed to group and others.
UniqueFd open_private_dir(const fs::path& dir, bool create) {
  if (create) make_private_dir(dir.root_path(), dir, 0700, LooseMode::refuse);
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) {
      throw Error(fmt::format("ledger directory {} does not exist", dir.string()),
                  ErrorKind::not_found, ENOENT);
    }
    throw Error::from_errno(fmt::format("cannot open ledger directory {}", dir.string()), errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw Error::from_errno("fstat " + dir.string(), errno);
  if (st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
    throw Error(fmt::format("ledger directory {} must be owned by uid {} with mode 0700 "
                            "(it is uid {}, mode {:04o})",
                            dir.string(), ::geteuid(), st.st_uid, st.st_mode & 07777),
                ErrorKind::config);
  }
  return fd;
}

void lock_with_deadline(int fd, std::chrono::milliseconds timeout, const fs::path& path) {
  if (!flock_until(fd, deadline_in(timeout), path.string(), std::chrono::milliseconds(10))) {
    throw Error(fmt::format("ledger {} is still locked by another helper after {} ms", path.string(),
                            timeout.count()),
                ErrorKind::timeout);
  }
}

std::string read_all(int fd, const fs::path& path) {
  std::string text;
  char buf[16384];
  off_t offset = 0;
  for (;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error::from_errno("read " + path.string(), errno);
    }
    if (n == 0) return text;
    text.append(buf, static_cast<std::size_t>(n));
    offset += n;
  }
}

void fsync_or_throw(int fd, const std::string& what) {
  if (::fsync(fd) != 0) throw Error::from_errno("fsync " + what, errno);
}

std::string file_name(std::uint32_t job_id) { return fmt::format("{}.jsonl", job_id); }

}  // namespace

fs::path ledger_path(const fs::path& dir, std::uint32_t job_id) { return dir / file_name(job_id); }

Ledger Ledger::open(const fs::path& dir, std::uint32_t job_id,
                    std::chrono::milliseconds lock_timeout) {
  const fs::path path = ledger_path(dir, job_id);
  return with_context(fmt::format("opening ledger {}", path.string()), [&] {
    UniqueFd dfd = open_private_dir(dir, /*create=*/true);
    UniqueFd fd(::openat(dfd.get(), file_name(job_id).c_str(),
                         O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) throw Error::from_errno("open", errno);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) throw Error::from_errno("fstat", errno);
    if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
      throw Error("not a regular file owned by us", ErrorKind::config);
    }
    // The directory entry of a new file must survive a crash as much as its contents.
    fsync_or_throw(dfd.get(), dir.string());
    lock_with_deadline(fd.get(), lock_timeout, path);

    // A crash in the middle of record() leaves a last line without its newline. record()
    // had not returned, so that change was never started: cut the fragment off, or the next
    // record would be glued to it.
    const std::string text = read_all(fd.get(), path);
    if (!text.empty() && text.back() != '\n') {
      const auto keep = text.rfind('\n');
      const off_t size = keep == std::string::npos ? 0 : static_cast<off_t>(keep + 1);
      log_warning("ledger {}: dropping a torn last line ({} bytes)", path.string(),
                  text.size() - static_cast<std::size_t>(size));
      if (::ftruncate(fd.get(), size) != 0) throw Error::from_errno("ftruncate", errno);
      fsync_or_throw(fd.get(), path.string());
    }
    return Ledger(std::move(fd), path);
  });
}

void Ledger::record(const nlohmann::json& action) {
  if (!action.is_object() || !action.contains("op") || !action["op"].is_string() ||
      action["op"].get_ref<const std::string&>().empty()) {
    throw Error(fmt::format("ledger action without an \"op\": {}", action.dump()),
                ErrorKind::internal);
  }
  std::string line;
  try {
    line = action.dump() + '\n';
  } catch (const nlohmann::json::exception& e) {  // e.g. invalid UTF-8 in a string
    throw Error(fmt::format("cannot encode ledger action: {}", e.what()), ErrorKind::internal);
  }
  std::string_view rest = line;
  while (!rest.empty()) {
    ssize_t n = ::write(fd_.get(), rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error::from_errno("writing ledger " + path_.string(), errno);
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  // Durable before the caller touches the host: that is the whole point of the ledger.
  fsync_or_throw(fd_.get(), path_.string());
}

LedgerContents parse_ledger(std::string_view text) {
  LedgerContents out;
  std::size_t number = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    if (nl == std::string_view::npos) {
      out.torn_tail = true;  // no newline: a record cut short by a crash
      break;
    }
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    ++number;
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("op") || !j["op"].is_string() ||
        j["op"].get_ref<const std::string&>().empty()) {
      out.corrupt_lines.push_back(number);
      continue;
    }
    out.entries.push_back({number, std::move(j)});
  }
  return out;
}

LedgerContents read_ledger(const fs::path& file) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT) {
      throw Error(fmt::format("no ledger {}", file.string()), ErrorKind::not_found, ENOENT);
    }
    throw Error::from_errno("open " + file.string(), errno);
  }
  return parse_ledger(read_all(fd.get(), file));
}

UndoReport undo_ledger(const fs::path& dir, std::uint32_t job_id, const UndoHandlers& handlers,
                       std::chrono::milliseconds lock_timeout, const std::function<void()>& settle) {
  const fs::path path = ledger_path(dir, job_id);
  return with_context(fmt::format("undoing ledger {}", path.string()), [&] {
    UndoReport report;
    UniqueFd dfd;
    try {
      dfd = open_private_dir(dir, /*create=*/false);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::not_found) return report;
      throw;
    }
    UniqueFd fd(::openat(dfd.get(), file_name(job_id).c_str(),
                         O_RDWR | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) {
      if (errno == ENOENT) return report;  // never recorded, or already undone
      throw Error::from_errno("open", errno);
    }
    report.ledger_found = true;
    lock_with_deadline(fd.get(), lock_timeout, path);
    const LedgerContents contents = parse_ledger(read_all(fd.get(), path));
    report.torn_tail = contents.torn_tail;

    for (auto it = contents.entries.rbegin(); it != contents.entries.rend(); ++it) {
      const std::string& op = it->action["op"].get_ref<const std::string&>();
      std::string error;
      if (auto h = handlers.find(op); h == handlers.end()) {
        error = "no undo handler for this op";
      } else {
        try {
          h->second(it->action);
          ++report.undone;
          continue;
        } catch (const std::exception& e) {
          error = e.what();
        }
      }
      log_warning("ledger {}: undo of line {} ({}) failed: {}", path.string(), it->line, op,
                  error);
      report.failures.push_back({it->line, op, std::move(error)});
    }
    if (settle) {
      try {
        settle();
      } catch (const std::exception& e) {
        log_warning("ledger {}: undo finishing after the last line failed: {}", path.string(), e.what());
        report.failures.push_back({0, "(finishing)", e.what()});
      }
    }
    // A line we cannot read is a change we cannot undo: keep the ledger for a person to see.
    for (std::size_t line : contents.corrupt_lines) {
      report.failures.push_back({line, "", "unreadable ledger line"});
    }
    if (report.ok()) {
      if (::unlinkat(dfd.get(), file_name(job_id).c_str(), 0) != 0 && errno != ENOENT) {
        throw Error::from_errno("unlink", errno);
      }
      fsync_or_throw(dfd.get(), dir.string());
      report.removed = true;
    }
    return report;
  });
}

std::vector<std::uint32_t> list_ledgers(const fs::path& dir) {
  std::vector<std::uint32_t> ids;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return ids;
    throw Error::from_errno("listing ledger directory " + dir.string(), ec.value());
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) throw Error::from_errno("listing ledger directory " + dir.string(), ec.value());
    const std::string name = it->path().filename().string();
    if (!name.ends_with(".jsonl")) continue;
    const std::string_view digits(name.data(), name.size() - 6);
    std::uint32_t id = 0;
    auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
    // Exactly what ledger_path() writes: no sign, no leading zeros, nothing after.
    if (err != std::errc() || end != digits.data() + digits.size() ||
        file_name(id) != name) {
      continue;
    }
    ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace slurmvm::netsetup
