// Logging with one pluggable sink per program: the CLI writes to stderr, the root helpers to
// syslog, the SPANK plugin to Slurm's own log (its sink lives in src/spank so that this library
// links nothing of Slurm). Messages are formatted with fmt only when the level is enabled.
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace slurmvm {

enum class LogLevel { error = 0, warning = 1, info = 2, debug = 3 };

using LogSink = std::function<void(LogLevel, std::string_view)>;

void set_log_sink(LogSink sink);
void set_log_level(LogLevel level);
LogLevel log_level() noexcept;
bool log_enabled(LogLevel level) noexcept;
void log_message(LogLevel level, std::string_view message);

// A message made safe for a log others read (syslog, slurmd's log): control characters
// (newlines, escape sequences, NUL) written as \n, \t, \xHH and a backslash as \\, so that
// text a user controls (a cluster definition, a resource set name) can never forge a line or
// drive a terminal; cut after `max` bytes with a note of how many were left out.
std::string escape_for_log(std::string_view message, std::size_t max = 4096);

// "vm: error: message" on stderr; warnings and errors only get a prefix a person can grep.
LogSink stderr_sink(std::string program);
// syslog(3) with the given identity, facility LOG_DAEMON (helpers run from slurmd); messages
// go through escape_for_log.
LogSink syslog_sink(std::string ident);
// The root helpers' sink: syslog for the admin, and stderr, which slurmd keeps in its log;
// messages go through escape_for_log.
LogSink helper_sink(std::string ident);

template <class... Args>
void log_at(LogLevel level, fmt::format_string<Args...> f, Args&&... args) {
  if (log_enabled(level)) log_message(level, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void log_error(fmt::format_string<Args...> f, Args&&... args) {
  log_at(LogLevel::error, f, std::forward<Args>(args)...);
}
template <class... Args>
void log_warning(fmt::format_string<Args...> f, Args&&... args) {
  log_at(LogLevel::warning, f, std::forward<Args>(args)...);
}
template <class... Args>
void log_info(fmt::format_string<Args...> f, Args&&... args) {
  log_at(LogLevel::info, f, std::forward<Args>(args)...);
}
template <class... Args>
void log_debug(fmt::format_string<Args...> f, Args&&... args) {
  log_at(LogLevel::debug, f, std::forward<Args>(args)...);
}

}  // namespace slurmvm
