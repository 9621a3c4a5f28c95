#include "log.hpp"

#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>

namespace slurmvm {
namespace {

LogLevel g_level = LogLevel::warning;
LogSink g_sink;

const char* level_word(LogLevel level) {
  switch (level) {
    case LogLevel::error: return "error";
    case LogLevel::warning: return "warning";
    case LogLevel::info: return "info";
    case LogLevel::debug: return "debug";
  }
  return "?";
}

}  // namespace

std::string escape_for_log(std::string_view message, std::size_t max) {
  std::string out;
  const std::size_t n = std::min(message.size(), max);
  out.reserve(n + 16);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(message[i]);
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\\': out += "\\\\"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += fmt::format("\\x{:02x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  if (message.size() > max) out += fmt::format("... ({} more bytes)", message.size() - max);
  return out;
}

void set_log_sink(LogSink sink) { g_sink = std::move(sink); }
void set_log_level(LogLevel level) { g_level = level; }
LogLevel log_level() noexcept { return g_level; }
bool log_enabled(LogLevel level) noexcept { return level <= g_level; }

void log_message(LogLevel level, std::string_view message) {
  if (!log_enabled(level)) return;
  if (g_sink) {
    g_sink(level, message);
  } else {
    // No sink configured yet: stderr is the only place a person will look.
    std::fprintf(stderr, "slurm-vm: %s: %.*s\n", level_word(level), static_cast<int>(message.size()),
                 message.data());
  }
}

LogSink stderr_sink(std::string program) {
  return [program = std::move(program)](LogLevel level, std::string_view message) {
    // One write per line so that concurrent writers (srun tasks) do not interleave mid-line.
    std::string line = fmt::format("{}: {}: {}\n", program, level_word(level), message);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
  };
}

namespace {

// syslog(3) as it is: callers escape.
LogSink raw_syslog_sink(std::string ident) {
  // openlog keeps the pointer: the string must outlive every syslog call.
  auto owned = std::make_shared<std::string>(std::move(ident));
  openlog(owned->c_str(), LOG_PID, LOG_DAEMON);
  return [owned](LogLevel level, std::string_view message) {
    int prio = LOG_DEBUG;
    switch (level) {
      case LogLevel::error: prio = LOG_ERR; break;
      case LogLevel::warning: prio = LOG_WARNING; break;
      case LogLevel::info: prio = LOG_INFO; break;
      case LogLevel::debug: prio = LOG_DEBUG; break;
    }
    syslog(prio, "%.*s", static_cast<int>(message.size()), message.data());
  };
}

}  // namespace

LogSink syslog_sink(std::string ident) {
  return [to_syslog = raw_syslog_sink(std::move(ident))](LogLevel level, std::string_view message) {
    to_syslog(level, escape_for_log(message));
  };
}

LogSink helper_sink(std::string ident) {
  return [to_syslog = raw_syslog_sink(ident), to_stderr = stderr_sink(ident)](LogLevel level, std::string_view message) {
    const std::string safe = escape_for_log(message);
    to_syslog(level, safe);
    to_stderr(level, safe);
  };
}

}  // namespace slurmvm
