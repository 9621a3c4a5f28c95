// OpenFlow 1.4 messages as bytes (pure functions, unit-tested): what the prolog sends on a
// bridge's management socket instead of running ovs-ofctl. Layouts: OpenFlow Switch
// Specification 1.4.0 (ofp_header §7.1, ofp_flow_mod §7.3.4.2, OXM §7.2.3, bundles §7.3.9)
// and Open vSwitch's Nicira extensions (nx_action_resubmit, nx_action_reg_move; ovs-actions(7)).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "netsetup/openflow_text.hpp"

namespace slurmvm::netsetup::openflow {

inline constexpr std::uint8_t kVersion14 = 0x05;

enum MsgType : std::uint8_t {
  kHello = 0,
  kError = 1,
  kEchoRequest = 2,
  kEchoReply = 3,
  kFlowMod = 14,
  kBarrierRequest = 20,
  kBarrierReply = 21,
  kBundleControl = 33,
  kBundleAddMessage = 34,
};

// ofp_bundle_ctrl_msg types and flags (§7.3.9.1).
enum BundleCtrl : std::uint16_t {
  kOpenRequest = 0, kOpenReply = 1, kCloseRequest = 2, kCloseReply = 3,
  kCommitRequest = 4, kCommitReply = 5, kDiscardRequest = 6, kDiscardReply = 7,
};
inline constexpr std::uint16_t kBundleAtomic = 1;
inline constexpr std::uint16_t kBundleOrdered = 2;

// A bridge's OpenFlow port numbers by port name (Interface.ofport in OVSDB).
using PortNumbers = std::map<std::string, std::uint32_t>;

struct Header {
  std::uint8_t version = 0;
  std::uint8_t type = 0;
  std::uint16_t length = 0;
  std::uint32_t xid = 0;
};
inline constexpr std::size_t kHeaderBytes = 8;

// The header at the start of `bytes` (at least kHeaderBytes long).
Header parse_header(std::string_view bytes);

// OFPT_HELLO offering OpenFlow 1.4 only (a version bitmap element, §7.5.1).
std::string hello(std::uint32_t xid);
std::string echo_reply(std::string_view request);
std::string barrier_request(std::uint32_t xid);
// OFPT_FLOW_MOD: an add (ofputil's "add-flow") or a delete by cookie in every table. Port names
// are numbered from `ports`; an unnumbered name throws Error(internal).
std::string flow_mod(const FlowLine& flow, const PortNumbers& ports, std::uint32_t xid);
std::string bundle_control(std::uint32_t xid, std::uint32_t bundle, BundleCtrl type, std::uint16_t flags);
// OFPT_BUNDLE_ADD_MESSAGE carrying `inner`, whose xid it shares (Open vSwitch matches errors
// about the inner message by it).
std::string bundle_add(std::uint32_t bundle, std::uint16_t flags, std::string_view inner);

// For an OFPT_BUNDLE_CONTROL message: its type.
std::optional<std::uint16_t> bundle_control_type(std::string_view msg);
// An OFPT_ERROR message in words: "OFPET_BAD_MATCH, OFPBMC_BAD_PREREQ (type 4, code 4)".
std::string describe_error(std::string_view msg);

}  // namespace slurmvm::netsetup::openflow
