#include "log.hpp"

#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
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

namespace {

// The length of the valid UTF-8 sequence at `p` (1 to 4), or 0 when it is not one (a lone
// continuation byte, an overlong form, a surrogate, past U+10FFFF, cut short).
std::size_t utf8_length(std::string_view s, std::size_t p, char32_t& cp) {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[p + i]); };
  const unsigned char c = b(0);
  std::size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
  if (c < 0x80 || n == 0 || c > 0xf4 || p + n > s.size()) return 0;
  cp = c & (0x7f >> n);
  for (std::size_t i = 1; i < n; ++i) {
    if ((b(i) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(i) & 0x3f);
  }
  const bool overlong = (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
  if (overlong || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return 0;
  return n;
}

// C1 controls (U+0080-U+009F: 8-bit CSI among them), line and paragraph separators, and the
// bidirectional overrides and isolates that reorder what a terminal shows.
bool is_invisible_control(char32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

}  // namespace

std::string escape_for_log(std::string_view message, std::size_t max) {
  std::string out;
  const std::string_view m = message.substr(0, std::min(message.size(), max));
  out.reserve(m.size() + 16);
  for (std::size_t i = 0; i < m.size();) {
    const auto c = static_cast<unsigned char>(m[i]);
    if (c >= 0x80) {
      char32_t cp = 0;
      const std::size_t n = utf8_length(m, i, cp);
      if (n == 0) {
        out += fmt::format("\\x{:02x}", c);  // not UTF-8: the byte itself, visibly
        ++i;
      } else if (is_invisible_control(cp)) {
        out += fmt::format("\\u{:04x}", static_cast<std::uint32_t>(cp));
        i += n;
      } else {
        out.append(m.substr(i, n));
        i += n;
      }
      continue;
    }
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
    ++i;
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
