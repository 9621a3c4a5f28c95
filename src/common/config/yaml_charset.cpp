// YAML's character set (yaml_charset.hpp).
#include "config/yaml_charset.hpp"

#include <fmt/format.h>

namespace slurmvm::config {
namespace {

bool printable(char32_t c) {
  return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0x7E) || c == 0x85 || (c >= 0xA0 && c <= 0xD7FF) ||
         (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

// Decodes one UTF-8 sequence at `at`: the code point and its length, or length 0 when the bytes
// are not UTF-8 (overlong forms, surrogates and values above U+10FFFF included).
std::pair<char32_t, std::size_t> decode(std::string_view s, std::size_t at) {
  const auto b0 = static_cast<unsigned char>(s[at]);
  if (b0 < 0x80) return {b0, 1};
  std::size_t len = 0;
  char32_t c = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, c = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, c = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, c = b0 & 0x07, min = 0x10000;
  } else {
    return {0, 0};
  }
  if (at + len > s.size()) return {0, 0};
  for (std::size_t i = 1; i < len; ++i) {
    const auto b = static_cast<unsigned char>(s[at + i]);
    if ((b & 0xC0) != 0x80) return {0, 0};
    c = (c << 6) | (b & 0x3F);
  }
  if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return {0, 0};
  return {c, len};
}

}  // namespace

std::optional<CharsetProblem> yaml_charset_problem(std::string_view text) {
  std::size_t at = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;  // U+FEFF, the byte-order mark
  int line = 0;
  int column = 0;
  while (at < text.size()) {
    const auto [c, len] = decode(text, at);
    if (len == 0) {
      return CharsetProblem{at, line, column,
                            fmt::format("a byte that is not UTF-8 (0x{:02x})", static_cast<unsigned char>(text[at]))};
    }
    if (!printable(c)) {
      return CharsetProblem{at, line, column,
                            fmt::format("a control character (U+{:04X}), which YAML does not allow",
                                        static_cast<std::uint32_t>(c))};
    }
    if (c == '\n') {
      ++line;
      column = 0;
    } else {
      ++column;
    }
    at += len;
  }
  return std::nullopt;
}

}  // namespace slurmvm::config
