// base64 (base64.hpp).
#include "base64.hpp"

#include "error.hpp"

namespace slurmvm {

namespace {

// `width` characters a line, each line ending with '\n'; 0: one line, no newline.
std::string encode(std::string_view data, std::size_t width) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t column = 0;
  auto put = [&](char c) {
    out += c;
    if (++column == width) {
      out += '\n';
      column = 0;
    }
  };
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(data[i]) << 16) |
                       (static_cast<unsigned char>(data[i + 1]) << 8) |
                       static_cast<unsigned char>(data[i + 2]);
    put(kAlphabet[(v >> 18) & 63]);
    put(kAlphabet[(v >> 12) & 63]);
    put(kAlphabet[(v >> 6) & 63]);
    put(kAlphabet[v & 63]);
  }
  if (const std::size_t rest = data.size() - i; rest > 0) {
    unsigned v = static_cast<unsigned>(static_cast<unsigned char>(data[i])) << 16;
    if (rest == 2) v |= static_cast<unsigned>(static_cast<unsigned char>(data[i + 1])) << 8;
    put(kAlphabet[(v >> 18) & 63]);
    put(kAlphabet[(v >> 12) & 63]);
    put(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    put('=');
  }
  if (column != 0 && width != 0) out += '\n';
  return out;
}

}  // namespace

std::string base64_lines(std::string_view data) { return encode(data, 76); }

std::string base64_encode(std::string_view data) { return encode(data, 0); }

std::string base64_decode(std::string_view text) {
  std::string out;
  unsigned bits = 0;
  int count = 0;
  for (const char c : text) {
    unsigned v;
    if (c >= 'A' && c <= 'Z') {
      v = static_cast<unsigned>(c - 'A');
    } else if (c >= 'a' && c <= 'z') {
      v = static_cast<unsigned>(c - 'a' + 26);
    } else if (c >= '0' && c <= '9') {
      v = static_cast<unsigned>(c - '0' + 52);
    } else if (c == '+') {
      v = 62;
    } else if (c == '/') {
      v = 63;
    } else if (c == '=' || c == '\n' || c == '\r' || c == ' ' || c == '\t') {
      continue;
    } else {
      throw Error("not base64: unexpected character", ErrorKind::system);
    }
    bits = (bits << 6) | v;
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xff);
    }
  }
  return out;
}

}  // namespace slurmvm
