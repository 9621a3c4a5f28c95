// Splits a byte stream into JSON values, for the two peers that send JSON back to back without
// framing: OVSDB (RFC 7047 §4: objects sent one after the other, no newlines) and QEMU's QMP and
// guest agent (objects, each followed by a newline that nothing requires). Nesting and strings
// are tracked to find where each top-level value ends; exactly that slice is parsed. A peer that
// is broken, or a guest that controls it, can send anything: every byte is accounted for and a
// value is bounded.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace slurmvm {

struct JsonStreamOptions {
  std::string_view peer = "peer";             // names the sender in errors: "ovsdb", "QEMU"
  std::size_t max_message = std::size_t{64} << 20;
  // The guest agent's resync: guest-sync-delimited sends 0xFF before its reply, and whatever came
  // before it (a partial reply meant for an earlier client) is dropped. 0xFF is never part of
  // valid JSON (qemu-ga(8), guest-sync-delimited).
  bool resync_on_ff = false;
};

class JsonStreamDecoder {
 public:
  explicit JsonStreamDecoder(JsonStreamOptions options = {})
      : peer_(options.peer), max_message_(options.max_message), resync_on_ff_(options.resync_on_ff) {}
  void feed(std::string_view bytes) { buf_.append(bytes); }
  // The next complete value, or nullopt if more bytes are needed. Throws Error(system) naming
  // the peer on bytes that are not a JSON object or array, on invalid JSON, or on a value above
  // max_message.
  std::optional<nlohmann::json> next();
  // True when no partial value is buffered.
  bool idle() const noexcept;

 private:
  std::string peer_;
  std::string buf_;
  std::size_t max_message_;
  bool resync_on_ff_;
  std::size_t scan_ = 0;   // next byte to look at
  std::size_t start_ = 0;  // first byte of the value being scanned
  int depth_ = 0;
  bool in_value_ = false;
  bool in_string_ = false;
  bool escape_ = false;
};

}  // namespace slurmvm
