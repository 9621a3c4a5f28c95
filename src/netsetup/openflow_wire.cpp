#include "netsetup/openflow_wire.hpp"

#include <array>

#include <fmt/format.h>

#include "error.hpp"

namespace slurmvm::netsetup::openflow {
namespace {

constexpr std::uint32_t kNoBuffer = 0xffffffff;  // OFP_NO_BUFFER
constexpr std::uint32_t kPortAny = 0xffffffff;   // OFPP_ANY
constexpr std::uint32_t kGroupAny = 0xffffffff;  // OFPG_ANY
constexpr std::uint32_t kPortInPort = 0xfffffff8;  // OFPP_IN_PORT
constexpr std::uint16_t kPort16InPort = 0xfff8;    // the same in Nicira's 16-bit port fields
constexpr std::uint8_t kTableAll = 0xff;           // OFPTT_ALL
constexpr std::uint8_t kFlowAdd = 0, kFlowDelete = 3;
constexpr std::uint16_t kMatchOxm = 1;             // OFPMT_OXM
constexpr std::uint16_t kInstructionApply = 4;     // OFPIT_APPLY_ACTIONS
constexpr std::uint16_t kActionOutput = 0, kActionSetField = 25, kActionExperimenter = 0xffff;
constexpr std::uint32_t kNiciraVendor = 0x00002320;  // NX_VENDOR_ID
constexpr std::uint16_t kNxRegMove = 6, kNxResubmitTable = 14;
constexpr std::uint16_t kHelloVersionBitmap = 1;  // OFPHET_VERSIONBITMAP
constexpr std::uint32_t kOxmHasMask = 0x100;

// A message under construction: big-endian appends, lengths patched when known.
class Writer {
 public:
  void u8(std::uint8_t v) { s_.push_back(static_cast<char>(v)); }
  void u16(std::uint16_t v) { u8(static_cast<std::uint8_t>(v >> 8)), u8(static_cast<std::uint8_t>(v)); }
  void u32(std::uint32_t v) { u16(static_cast<std::uint16_t>(v >> 16)), u16(static_cast<std::uint16_t>(v)); }
  void u64(std::uint64_t v) { u32(static_cast<std::uint32_t>(v >> 32)), u32(static_cast<std::uint32_t>(v)); }
  void bytes(const std::vector<std::uint8_t>& b) { s_.append(b.begin(), b.end()); }
  void zeros(std::size_t n) { s_.append(n, '\0'); }
  void pad_to_8(std::size_t from) { zeros((8 - (s_.size() - from) % 8) % 8); }
  void put16_at(std::size_t at, std::size_t v) {
    if (v > 0xffff) throw Error("openflow: message longer than 64 KiB", ErrorKind::internal);
    s_[at] = static_cast<char>(v >> 8), s_[at + 1] = static_cast<char>(v & 0xff);
  }
  std::size_t size() const { return s_.size(); }
  std::string& str() { return s_; }

  // ofp_header with the length patched by finish().
  void header(std::uint8_t type, std::uint32_t xid) {
    u8(kVersion14), u8(type), u16(0), u32(xid);
  }
  std::string finish() {
    put16_at(2, s_.size());
    return std::move(s_);
  }

 private:
  std::string s_;
};

std::uint32_t port_number(const PortNumbers& ports, const std::string& name, std::size_t line) {
  const auto it = ports.find(name);
  if (it == ports.end()) {
    throw Error(fmt::format("flow line {}: port {} has no OpenFlow port number", line, name), ErrorKind::internal);
  }
  return it->second;
}

// ofp_match (§7.2.2) with OXM entries, padded to 8 bytes.
void put_match(Writer& w, const FlowLine& flow, const PortNumbers& ports) {
  const std::size_t start = w.size();
  w.u16(kMatchOxm), w.u16(0);
  for (const auto& m : flow.match) {
    const bool masked = !m.mask.empty();
    const std::uint32_t header = masked ? (m.field->oxm | kOxmHasMask) + m.field->bytes : m.field->oxm;
    w.u32(header);
    if (!m.port.empty()) {
      w.u32(port_number(ports, m.port, flow.line));
    } else {
      w.bytes(m.value);
      if (masked) w.bytes(m.mask);
    }
  }
  w.put16_at(start + 2, w.size() - start);  // the length excludes the padding
  w.pad_to_8(start);
}

void put_action(Writer& w, const Action& a, const PortNumbers& ports, std::size_t line) {
  const std::size_t start = w.size();
  switch (a.kind) {
    case Action::Kind::output:
    case Action::Kind::output_in_port:  // ofp_action_output (§7.2.5.1)
      w.u16(kActionOutput), w.u16(16);
      w.u32(a.kind == Action::Kind::output ? port_number(ports, a.port, line) : kPortInPort);
      w.u16(0), w.zeros(6);  // max_len (only for the controller), pad
      return;
    case Action::Kind::set_field:  // ofp_action_set_field (§7.2.5.13): one OXM, padded
      w.u16(kActionSetField), w.u16(0);
      w.u32(a.field->oxm);
      w.bytes(a.value);
      w.pad_to_8(start);
      w.put16_at(start + 2, w.size() - start);
      return;
    case Action::Kind::resubmit:  // nx_action_resubmit, NXAST_RESUBMIT_TABLE
      w.u16(kActionExperimenter), w.u16(16), w.u32(kNiciraVendor), w.u16(kNxResubmitTable);
      w.u16(kPort16InPort), w.u8(a.table), w.zeros(3);
      return;
    case Action::Kind::move:  // nx_action_reg_move, NXAST_REG_MOVE: whole fields
      w.u16(kActionExperimenter), w.u16(24), w.u32(kNiciraVendor), w.u16(kNxRegMove);
      w.u16(static_cast<std::uint16_t>(a.field->bytes * 8)), w.u16(0), w.u16(0);
      w.u32(a.source->nxm), w.u32(a.field->nxm);
      return;
  }
}

std::uint16_t be16(std::string_view b, std::size_t at) {
  return static_cast<std::uint16_t>(static_cast<std::uint8_t>(b[at]) << 8 | static_cast<std::uint8_t>(b[at + 1]));
}

}  // namespace

Header parse_header(std::string_view b) {
  Header h;
  h.version = static_cast<std::uint8_t>(b[0]);
  h.type = static_cast<std::uint8_t>(b[1]);
  h.length = be16(b, 2);
  h.xid = static_cast<std::uint32_t>(be16(b, 4)) << 16 | be16(b, 6);
  return h;
}

std::string hello(std::uint32_t xid) {
  Writer w;
  w.header(kHello, xid);
  w.u16(kHelloVersionBitmap), w.u16(8), w.u32(1u << kVersion14);
  return w.finish();
}

std::string echo_reply(std::string_view request) {
  std::string reply(request);
  reply[1] = static_cast<char>(kEchoReply);
  return reply;
}

std::string barrier_request(std::uint32_t xid) {
  Writer w;
  w.header(kBarrierRequest, xid);
  return w.finish();
}

std::string flow_mod(const FlowLine& flow, const PortNumbers& ports, std::uint32_t xid) {
  const bool del = flow.kind == FlowLine::Kind::delete_cookie;
  Writer w;
  w.header(kFlowMod, xid);
  w.u64(flow.cookie);
  w.u64(del ? ~std::uint64_t{0} : 0);  // cookie_mask: a delete matches the cookie exactly
  w.u8(del ? kTableAll : flow.table);
  w.u8(del ? kFlowDelete : kFlowAdd);
  w.u16(0), w.u16(0);  // idle and hard timeouts: none
  w.u16(flow.priority);
  w.u32(kNoBuffer), w.u32(kPortAny), w.u32(kGroupAny);
  w.u16(0), w.u16(0);  // flags, importance
  put_match(w, flow, ports);
  if (!flow.actions.empty()) {  // no instruction at all is "drop"
    const std::size_t start = w.size();
    w.u16(kInstructionApply), w.u16(0), w.zeros(4);
    for (const auto& a : flow.actions) put_action(w, a, ports, flow.line);
    w.put16_at(start + 2, w.size() - start);
  }
  return w.finish();
}

std::string bundle_control(std::uint32_t xid, std::uint32_t bundle, BundleCtrl type, std::uint16_t flags) {
  Writer w;
  w.header(kBundleControl, xid);
  w.u32(bundle), w.u16(type), w.u16(flags);
  return w.finish();
}

std::string bundle_add(std::uint32_t bundle, std::uint16_t flags, std::string_view inner) {
  Writer w;
  w.header(kBundleAddMessage, parse_header(inner).xid);
  w.u32(bundle), w.u16(0), w.u16(flags);
  w.str().append(inner);
  return w.finish();
}

std::optional<std::uint16_t> bundle_control_type(std::string_view msg) {
  if (msg.size() < 16) return std::nullopt;
  return be16(msg, 12);
}

std::string describe_error(std::string_view msg) {
  if (msg.size() < 12) return "a truncated OpenFlow error";
  const auto type = be16(msg, 8), code = be16(msg, 10);
  // ofp_error_type and the codes of the types a flow bundle can fail with (§7.5.4).
  static const std::map<std::uint16_t, std::string_view> types = {
      {0, "OFPET_HELLO_FAILED"}, {1, "OFPET_BAD_REQUEST"}, {2, "OFPET_BAD_ACTION"},
      {3, "OFPET_BAD_INSTRUCTION"}, {4, "OFPET_BAD_MATCH"}, {5, "OFPET_FLOW_MOD_FAILED"},
      {17, "OFPET_BUNDLE_FAILED"}, {0xffff, "OFPET_EXPERIMENTER"}};
  static const std::map<std::uint16_t, std::vector<std::string_view>> codes = {
      {1, {"BAD_VERSION", "BAD_TYPE", "BAD_MULTIPART", "BAD_EXPERIMENTER", "BAD_EXP_TYPE", "EPERM", "BAD_LEN",
           "BUFFER_EMPTY", "BUFFER_UNKNOWN", "BAD_TABLE_ID", "IS_SLAVE", "BAD_PORT", "BAD_PACKET"}},
      {2, {"BAD_TYPE", "BAD_LEN", "BAD_EXPERIMENTER", "BAD_EXP_TYPE", "BAD_OUT_PORT", "BAD_ARGUMENT", "EPERM",
           "TOO_MANY", "BAD_QUEUE", "BAD_OUT_GROUP", "MATCH_INCONSISTENT", "UNSUPPORTED_ORDER", "BAD_TAG",
           "BAD_SET_TYPE", "BAD_SET_LEN", "BAD_SET_ARGUMENT"}},
      {4, {"BAD_TYPE", "BAD_LEN", "BAD_TAG", "BAD_DL_ADDR_MASK", "BAD_NW_ADDR_MASK", "BAD_WILDCARDS", "BAD_FIELD",
           "BAD_VALUE", "BAD_MASK", "BAD_PREREQ", "DUP_FIELD", "EPERM"}},
      {5, {"UNKNOWN", "TABLE_FULL", "BAD_TABLE_ID", "OVERLAP", "EPERM", "BAD_TIMEOUT", "BAD_COMMAND", "BAD_FLAGS"}},
      {17, {"UNKNOWN", "EPERM", "BAD_ID", "BUNDLE_EXIST", "BUNDLE_CLOSED", "OUT_OF_BUNDLES", "BAD_TYPE",
            "BAD_FLAGS", "MSG_BAD_LEN", "MSG_BAD_XID", "MSG_UNSUP", "MSG_CONFLICT", "MSG_TOO_MANY", "MSG_FAILED",
            "TIMEOUT", "BUNDLE_IN_PROGRESS"}}};
  std::string out;
  if (const auto t = types.find(type); t != types.end()) {
    out = std::string(t->second);
    if (const auto c = codes.find(type); c != codes.end() && code < c->second.size()) {
      out += fmt::format(", {}", c->second[code]);
    }
    out += " ";
  }
  return out + fmt::format("(type {}, code {})", type, code);
}

}  // namespace slurmvm::netsetup::openflow
