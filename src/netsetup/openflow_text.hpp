// The flow text of flows.hpp (the golden-tested contract, also what vm-node-restore reads back
// from a job's flows file) parsed into OpenFlow terms, so that openflow_wire.hpp can encode it
// without ovs-ofctl. Only the subset flows.cpp writes is accepted, and all of it is checked
// (prerequisites, widths, duplicates): anything else is a bug or a damaged file, reported
// with its line, never guessed at. The grammar is ovs-fields(7) and ovs-actions(7) syntax.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace slurmvm::netsetup::openflow {

// A field of the packet as OpenFlow names it on the wire (OpenFlow 1.4 §7.2.3.7 OXM basic
// class 0x8000, or Open vSwitch's NXM classes 0x0000/0x0001 where OXM has none).
struct Field {
  std::string_view match_name;  // "dl_src" in a match or set_field ("" when not matchable)
  std::string_view nxm_name;    // "NXM_OF_ETH_SRC" in load/move ("" when not used there)
  std::uint32_t oxm = 0;        // its header in matches and set_field (mask bit clear)
  std::uint32_t nxm = 0;        // its NXM header in a reg_move (0: none)
  unsigned bytes = 0;
  // Encoding order in a match: OXM prerequisites must come first (eth_type before the IP and
  // ARP fields, ip_proto before the UDP ports); Open vSwitch checks them entry by entry.
  int rank = 0;
};

struct MatchEntry {
  const Field* field = nullptr;
  std::string port;                // in_port: the port's name, numbered when encoded
  std::vector<std::uint8_t> value;  // network byte order, field->bytes long
  std::vector<std::uint8_t> mask;   // empty: exact
};

struct Action {
  enum class Kind { output, output_in_port, set_field, resubmit, move };
  Kind kind = Kind::output;
  std::string port;                 // output
  const Field* field = nullptr;     // set_field target, move destination
  const Field* source = nullptr;    // move source
  std::vector<std::uint8_t> value;  // set_field
  std::uint8_t table = 0;           // resubmit
};

struct FlowLine {
  enum class Kind { add, delete_cookie };
  Kind kind = Kind::add;
  std::size_t line = 0;  // 1-based, for errors
  std::uint64_t cookie = 0;
  std::uint8_t table = 0;
  std::uint16_t priority = 0;
  std::vector<MatchEntry> match;  // sorted by Field::rank
  std::vector<Action> actions;    // empty: drop
};

// Throws Error(internal) naming the line and the token it does not accept.
std::vector<FlowLine> parse_flows(std::string_view text);

// The port names the flows refer to (in_port and output), sorted, each once.
std::vector<std::string> port_names(const std::vector<FlowLine>& flows);

}  // namespace slurmvm::netsetup::openflow
