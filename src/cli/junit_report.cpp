// The JUnit report of `vm batch` (junit_report.hpp).
#include "junit_report.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "error.hpp"
#include "file_read.hpp"
#include "unique_fd.hpp"

namespace slurmvm::cli {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// The length of the valid UTF-8 sequence at `s` (1..4), or 0 when it is not one (overlong
// forms, surrogates and code points above U+10FFFF are not).
std::size_t utf8_sequence(std::string_view s, char32_t& cp) {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  std::size_t len = 0;
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2, cp = c & 0x1FU;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3, cp = c & 0x0FU;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4, cp = c & 0x07U;
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  for (std::size_t i = 1; i < len; ++i) {
    if ((b(i) & 0xC0U) != 0x80U) return 0;
    cp = (cp << 6) | (b(i) & 0x3FU);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
  if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
  return len;
}

// XML 1.0 §2.2: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
bool xml_char(char32_t cp) {
  return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) || (cp >= 0xE000 && cp <= 0xFFFD) ||
         (cp >= 0x10000 && cp <= 0x10FFFF);
}

std::string fixed3(double seconds) { return fmt::format("{:.3f}", seconds < 0 || !std::isfinite(seconds) ? 0.0 : seconds); }

std::optional<double> parse_double(std::string_view s) {
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

struct Tail {
  std::string text;
  std::uint64_t skipped = 0;
};

// The last `max` bytes of a regular file; nullopt when it does not exist.
std::optional<Tail> read_tail(const std::filesystem::path& path, std::size_t max) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd) {
    if (errno == ENOENT) return std::nullopt;
    throw Error::from_errno(fmt::format("cannot open {}", path.string()), errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw Error::from_errno(fmt::format("cannot read {}", path.string()), errno);
  if (!S_ISREG(st.st_mode)) throw Error(fmt::format("{} is not a regular file", path.string()), ErrorKind::system);
  const auto size = static_cast<std::uint64_t>(st.st_size);
  Tail t;
  t.skipped = size > max ? size - max : 0;
  t.text.resize(static_cast<std::size_t>(size - t.skipped));
  std::size_t done = 0;
  while (done < t.text.size()) {
    const ssize_t n = ::pread(fd.get(), t.text.data() + done, t.text.size() - done,
                              static_cast<off_t>(t.skipped + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error::from_errno(fmt::format("cannot read {}", path.string()), errno);
    if (n == 0) break;  // shrank meanwhile
    done += static_cast<std::size_t>(n);
  }
  t.text.resize(done);
  return t;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    char32_t cp = 0;
    const std::size_t len = utf8_sequence(text, cp);
    if (len == 0 || !xml_char(cp)) {
      out += kReplacement;
      text.remove_prefix(len == 0 ? 1 : len);
      continue;
    }
    switch (cp) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out.append(text.substr(0, len));
    }
    text.remove_prefix(len);
  }
  return out;
}

std::string junit_xml(const JunitSuite& suite) {
  int failures = 0;
  int errors = 0;
  double total = 0;
  for (const JunitCase& c : suite.cases) {
    failures += c.outcome == JunitCase::Outcome::failed ? 1 : 0;
    errors += c.outcome == JunitCase::Outcome::error ? 1 : 0;
    total += c.seconds;
  }
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += fmt::format("<testsuites name=\"{0}\" tests=\"{1}\" failures=\"{2}\" errors=\"{3}\" time=\"{4}\">\n",
                     xml_escape(suite.name), suite.cases.size(), failures, errors, fixed3(total));
  out += fmt::format(
      "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" time=\"{}\" "
      "timestamp=\"{}\" hostname=\"{}\">\n",
      xml_escape(suite.name), suite.cases.size(), failures, errors, fixed3(total), xml_escape(suite.timestamp),
      xml_escape(suite.hostname));
  for (const JunitCase& c : suite.cases) {
    out += fmt::format("    <testcase name=\"{}\" classname=\"{}\" time=\"{}\">\n", xml_escape(c.name),
                       xml_escape(c.classname), fixed3(c.seconds));
    if (c.outcome != JunitCase::Outcome::passed) {
      const char* element = c.outcome == JunitCase::Outcome::failed ? "failure" : "error";
      out += fmt::format("      <{0} message=\"{1}\" type=\"{0}\">{1}</{0}>\n", element, xml_escape(c.message));
    }
    out += fmt::format("      <system-out>{}</system-out>\n", xml_escape(c.output));
    out += "    </testcase>\n";
  }
  out += "  </testsuite>\n</testsuites>\n";
  return out;
}

JunitCase read_junit_case(const std::filesystem::path& results, const std::string& name,
                          const std::string& classname, int job_status, std::size_t max_output) {
  JunitCase c;
  c.name = name;
  c.classname = classname;
  // The output: the last max_output bytes (a chatty script must not make a report Jenkins
  // cannot load), read without holding more than that.
  if (auto tail = read_tail(results / (name + ".out"), max_output)) {
    c.output = tail->skipped == 0
                   ? std::move(tail->text)
                   : fmt::format("[vm batch: the first {} bytes of the output are left out]\n", tail->skipped) + tail->text;
  }
  if (auto times = read_file_if_exists(results / (name + ".time"), 4096)) {
    const std::string t = trim(*times);
    const auto space = t.find(' ');
    if (space != std::string::npos) {
      const auto t0 = parse_double(std::string_view(t).substr(0, space));
      const auto t1 = parse_double(std::string_view(t).substr(space + 1));
      if (t0 && t1 && *t1 >= *t0) c.seconds = *t1 - *t0;
    }
  }
  const auto status_text = read_file_if_exists(results / (name + ".status"), 4096);
  int status = -1;
  if (status_text) {
    const std::string s = trim(*status_text);
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), status);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty()) status = -1;
  }
  if (status == 0) {
    c.outcome = JunitCase::Outcome::passed;
  } else if (status > 0) {
    c.outcome = JunitCase::Outcome::failed;
    c.message = fmt::format("{} exited with status {}", name, status);
  } else {
    c.outcome = JunitCase::Outcome::error;
    c.message = fmt::format(
        "{} did not finish: the job ended first with status {} (the cluster did not boot, or the job was "
        "cancelled or reached its time limit; see the job's output)",
        name, job_status);
  }
  return c;
}

}  // namespace slurmvm::cli
