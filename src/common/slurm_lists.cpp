#include "slurm_lists.hpp"

#include <fmt/format.h>

#include <charconv>

#include "error.hpp"

namespace slurmvm {
namespace {

[[noreturn]] void malformed(std::string_view what, std::string_view text) {
  throw Error(fmt::format("malformed Slurm {} \"{}\"", what, text), ErrorKind::config);
}

bool to_u32(std::string_view s, std::uint32_t& out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

// Splits at commas that are not inside brackets.
std::vector<std::string_view> split_top_level(std::string_view text, std::string_view what) {
  std::vector<std::string_view> parts;
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '[') ++depth;
    if (text[i] == ']' && --depth < 0) malformed(what, text);
    if (text[i] == ',' && depth == 0) {
      parts.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  if (depth != 0) malformed(what, text);
  parts.push_back(text.substr(start));
  return parts;
}

// Expands one "prefix[ranges]suffix" item (a single bracket group, as Slurm prints them).
void expand_item(std::string_view item, std::string_view text, std::vector<std::string>& out) {
  constexpr std::string_view what = "host list";
  if (item.empty()) malformed(what, text);
  const auto open = item.find('[');
  if (open == std::string_view::npos) {
    out.emplace_back(item);
    return;
  }
  const auto close = item.find(']', open);
  if (close == std::string_view::npos || item.find('[', open + 1) < close) malformed(what, text);
  const std::string_view prefix = item.substr(0, open);
  const std::string_view suffix = item.substr(close + 1);
  if (suffix.find_first_of("[]") != std::string_view::npos) malformed(what, text);
  for (std::string_view range : split_top_level(item.substr(open + 1, close - open - 1), what)) {
    const auto dash = range.find('-');
    const std::string_view lo_text = range.substr(0, dash);
    const std::string_view hi_text = dash == std::string_view::npos ? lo_text : range.substr(dash + 1);
    std::uint32_t lo = 0, hi = 0;
    if (!to_u32(lo_text, lo) || !to_u32(hi_text, hi) || hi < lo || hi - lo > 1'000'000) {
      malformed(what, text);
    }
    const std::size_t width = lo_text.size();  // "07-10" keeps two digits
    for (std::uint32_t n = lo; n <= hi; ++n) {
      out.push_back(fmt::format("{}{:0{}}{}", prefix, n, width, suffix));
    }
  }
}

}  // namespace

std::vector<std::string> expand_hostlist(std::string_view text) {
  std::vector<std::string> out;
  for (std::string_view item : split_top_level(text, "host list")) expand_item(item, text, out);
  return out;
}

std::vector<std::uint32_t> expand_counts(std::string_view text) {
  constexpr std::string_view what = "count list";
  std::vector<std::uint32_t> out;
  for (std::string_view item : split_top_level(text, what)) {
    std::uint32_t value = 0, repeat = 1;
    const auto paren = item.find("(x");
    if (paren != std::string_view::npos) {
      if (!item.ends_with(')') || !to_u32(item.substr(paren + 2, item.size() - paren - 3), repeat) ||
          repeat == 0 || repeat > 1'000'000) {
        malformed(what, text);
      }
      item = item.substr(0, paren);
    }
    if (!to_u32(item, value)) malformed(what, text);
    out.insert(out.end(), repeat, value);
  }
  return out;
}

}  // namespace slurmvm
