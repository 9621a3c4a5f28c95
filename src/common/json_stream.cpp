// Splitting a byte stream into JSON values (json_stream.hpp).
#include "json_stream.hpp"

#include <fmt/format.h>

#include "error.hpp"

namespace slurmvm {

using nlohmann::json;

bool JsonStreamDecoder::idle() const noexcept {
  return !in_value_ && buf_.find_first_not_of(" \t\r\n", scan_) == std::string::npos;
}

std::optional<json> JsonStreamDecoder::next() {
  while (scan_ < buf_.size()) {
    const char c = buf_[scan_];
    if (resync_on_ff_ && c == '\xff') {
      buf_.erase(0, scan_ + 1);
      scan_ = start_ = 0;
      depth_ = 0;
      in_value_ = in_string_ = escape_ = false;
      continue;
    }
    if (!in_value_) {
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        start_ = ++scan_;
        continue;
      }
      // Every message is a JSON object (RFC 7047 §4; QMP); arrays are tolerated, scalars are not
      // (their end cannot be found without a delimiter).
      if (c != '{' && c != '[') {
        throw Error(fmt::format("{}: unexpected byte 0x{:02x} between messages", peer_, static_cast<unsigned char>(c)),
                    ErrorKind::system);
      }
      in_value_ = true;
      start_ = scan_;
    }
    if (in_string_) {
      if (escape_) {
        escape_ = false;
      } else if (c == '\\') {
        escape_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
    } else if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if (c == '}' || c == ']') {
      if (--depth_ == 0) {
        const std::string_view text(buf_.data() + start_, scan_ + 1 - start_);
        json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
        buf_.erase(0, scan_ + 1);
        scan_ = start_ = 0;
        in_value_ = false;
        if (value.is_discarded()) throw Error(fmt::format("{}: malformed JSON message", peer_), ErrorKind::system);
        return value;
      }
    }
    ++scan_;
    if (scan_ - start_ > max_message_) {
      throw Error(fmt::format("{}: message larger than {} bytes", peer_, max_message_), ErrorKind::system);
    }
  }
  // Only whitespace left: drop it, so that a peer sending nothing else cannot grow the buffer.
  if (!in_value_) {
    buf_.clear();
    scan_ = start_ = 0;
  }
  return std::nullopt;
}

}  // namespace slurmvm
