#include "netsetup/ovsdb.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "error.hpp"
#include "log.hpp"

namespace slurmvm::netsetup {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kDatabase = "Open_vSwitch";

int poll_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 60000));
}

// <condition> (RFC 7047 §5.1): [column, function, value].
json cond(const std::string& column, const char* function, json value) {
  return json::array({column, function, std::move(value)});
}

json name_is(const std::string& name) { return json::array({cond("name", "==", name)}); }

// <map> (§5.1): ["map", [[key, value], ...]].
json ovs_map(const std::map<std::string, std::string>& m) {
  json pairs = json::array();
  for (const auto& [k, v] : m) pairs.push_back(json::array({k, v}));
  return json::array({"map", std::move(pairs)});
}

json named_uuid(const std::string& name) { return json::array({"named-uuid", name}); }

json set_of(json elements) { return json::array({"set", std::move(elements)}); }

// A set column as returned by the server: a lone atom, or ["set", [...]]; a uuid atom is
// ["uuid", "..."] and must not be mistaken for a set.
std::vector<json> set_elements(const json& v) {
  if (v.is_array() && v.size() == 2 && v[0] == "set") return v[1].get<std::vector<json>>();
  return {v};
}

std::map<std::string, std::string> map_value(const json& v) {
  std::map<std::string, std::string> out;
  if (v.is_array() && v.size() == 2 && v[0] == "map") {
    for (const auto& kv : v[1]) out[kv[0].get<std::string>()] = kv[1].get<std::string>();
  }
  return out;
}

json comment_op(const std::string& comment) {
  return {{"op", "comment"}, {"comment", comment}};
}

// A `wait` (§5.2.6) with timeout 0: the transaction aborts unless the rows selected by
// `where` (projected on `columns`) equal `rows` right now.
json wait_now(const std::string& table, json where, std::vector<std::string> columns, json rows) {
  return {{"op", "wait"},       {"table", table}, {"timeout", 0},  {"where", std::move(where)},
          {"columns", columns}, {"until", "=="},  {"rows", std::move(rows)}};
}

std::string describe(const json& op) {
  std::string s = op.value("op", "?");
  if (op.contains("table")) s += " " + op["table"].get<std::string>();
  if (op.contains("row") && op["row"].contains("name")) s += " " + op["row"]["name"].dump();
  if (op.contains("where")) s += " where " + op["where"].dump();
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// JsonStreamDecoder

bool JsonStreamDecoder::idle() const noexcept {
  return !in_value_ && buf_.find_first_not_of(" \t\r\n", scan_) == std::string::npos;
}

std::optional<json> JsonStreamDecoder::next() {
  while (scan_ < buf_.size()) {
    const char c = buf_[scan_];
    if (!in_value_) {
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        start_ = ++scan_;
        continue;
      }
      // RFC 7047 §4: every message is a JSON object; arrays are tolerated, scalars are not
      // (their end cannot be found without a delimiter).
      if (c != '{' && c != '[') {
        throw Error(fmt::format("ovsdb: unexpected byte 0x{:02x} between messages",
                                static_cast<unsigned char>(c)),
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
        if (value.is_discarded()) throw Error("ovsdb: malformed JSON message", ErrorKind::system);
        return value;
      }
    }
    ++scan_;
    if (scan_ - start_ > max_message_) {
      throw Error(fmt::format("ovsdb: message larger than {} bytes", max_message_),
                  ErrorKind::system);
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------
// OvsdbClient

OvsdbClient OvsdbClient::connect(const std::string& socket_path,
                                 std::chrono::milliseconds timeout) {
  return with_context(fmt::format("connecting to ovsdb-server at {}", socket_path), [&] {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof addr.sun_path) {
      throw Error("socket path too long", ErrorKind::config);
    }
    std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
      if (!fd) throw Error::from_errno("socket", errno);
      // A unix-socket connect completes at once or fails with EAGAIN (listen backlog full).
      if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) {
        return OvsdbClient(std::move(fd), socket_path);
      }
      if (errno != EAGAIN && errno != EINTR) throw Error::from_errno("connect", errno);
      if (Clock::now() >= deadline) {
        throw Error(fmt::format("no connection within {} ms", timeout.count()),
                    ErrorKind::timeout);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
}

void OvsdbClient::send_message(const json& msg, Clock::time_point deadline) {
  const std::string bytes = msg.dump();
  std::string_view rest = bytes;
  while (!rest.empty()) {
    ssize_t n = ::send(fd_.get(), rest.data(), rest.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      rest.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) throw Error::from_errno("ovsdb: send", errno);
    pollfd p{fd_.get(), POLLOUT, 0};
    if (::poll(&p, 1, poll_ms(deadline)) == 0 && Clock::now() >= deadline) {
      throw Error("ovsdb: timed out sending a request", ErrorKind::timeout);
    }
  }
}

json OvsdbClient::read_message(Clock::time_point deadline) {
  for (;;) {
    if (auto msg = decoder_.next()) return std::move(*msg);
    pollfd p{fd_.get(), POLLIN, 0};
    int n = ::poll(&p, 1, poll_ms(deadline));
    if (n < 0 && errno != EINTR) throw Error::from_errno("ovsdb: poll", errno);
    if (n == 0) {
      if (Clock::now() >= deadline) {
        throw Error("ovsdb: timed out waiting for ovsdb-server", ErrorKind::timeout);
      }
      continue;
    }
    char buf[65536];
    ssize_t got = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw Error::from_errno("ovsdb: recv", errno);
    }
    if (got == 0) throw Error("ovsdb: ovsdb-server closed the connection", ErrorKind::system);
    decoder_.feed(std::string_view(buf, static_cast<std::size_t>(got)));
  }
}

json OvsdbClient::call(const std::string& method, json params, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const std::uint64_t id = next_id_++;
  send_message({{"method", method}, {"params", std::move(params)}, {"id", id}}, deadline);
  for (;;) {
    json msg = read_message(deadline);
    if (msg.contains("method")) {
      // §4.1.11: the server probes an idle connection with "echo"; the reply repeats params.
      if (msg["method"] == "echo" && msg.contains("id") && !msg["id"].is_null()) {
        send_message({{"id", msg["id"]}, {"result", msg.value("params", json::array())},
                      {"error", nullptr}},
                     deadline);
      }
      continue;  // notifications ("update", "locked", ...) are not ours: we never subscribe
    }
    if (!msg.contains("id") || msg["id"] != id) {
      log_debug("ovsdb: dropping a reply to another request: {}", msg.dump());
      continue;
    }
    if (msg.contains("error") && !msg["error"].is_null()) {
      throw Error(fmt::format("ovsdb: {} failed: {}", method, msg["error"].dump()),
                  ErrorKind::system);
    }
    return msg.value("result", json());
  }
}

json OvsdbClient::transact(const json& ops, std::chrono::milliseconds timeout) {
  json params = json::array({kDatabase});
  for (const auto& op : ops) params.push_back(op);
  json result = call("transact", std::move(params), timeout);
  check_transact_result(ops, result);
  return result;
}

void check_transact_result(const json& ops, const json& result) {
  if (!result.is_array()) {
    throw Error(fmt::format("ovsdb: transact returned {}, not an array", result.dump()),
                ErrorKind::system);
  }
  for (std::size_t i = 0; i < result.size(); ++i) {
    const json& r = result[i];
    if (!r.is_object() || !r.contains("error") || r["error"].is_null()) continue;
    const std::string what =
        i < ops.size() ? fmt::format("operation {} of {} ({})", i + 1, ops.size(), describe(ops[i]))
                       : std::string("commit");
    std::string msg = fmt::format("ovsdb: transaction failed at {}: {}", what,
                                  r["error"].is_string() ? r["error"].get<std::string>()
                                                         : r["error"].dump());
    if (r.contains("details") && r["details"].is_string()) {
      msg += ": " + r["details"].get<std::string>();
    }
    throw Error(msg, ErrorKind::system);
  }
  if (result.size() < ops.size()) {
    throw Error(fmt::format("ovsdb: transaction returned {} results for {} operations",
                            result.size(), ops.size()),
                ErrorKind::system);
  }
}

// ---------------------------------------------------------------------------------------
// Operation builders

namespace ovsdb_ops {

json bump_next_cfg() {
  return json::array({
      {{"op", "mutate"},
       {"table", "Open_vSwitch"},
       {"where", json::array()},
       {"mutations", json::array({json::array({"next_cfg", "+=", 1})})}},
      {{"op", "select"},
       {"table", "Open_vSwitch"},
       {"where", json::array()},
       {"columns", json::array({"next_cfg"})}},
  });
}

json create_bridge(const std::string& bridge, const std::string& datapath_type,
                   const std::string& comment) {
  json ops = json::array();
  if (!comment.empty()) ops.push_back(comment_op(comment));
  ops.push_back(wait_now("Bridge", name_is(bridge), {"name"}, json::array()));
  ops.push_back({{"op", "insert"},
                 {"table", "Interface"},
                 {"uuid-name", "iface"},
                 {"row", {{"name", bridge}, {"type", "internal"}}}});
  ops.push_back({{"op", "insert"},
                 {"table", "Port"},
                 {"uuid-name", "port"},
                 {"row", {{"name", bridge}, {"interfaces", named_uuid("iface")}}}});
  ops.push_back({{"op", "insert"},
                 {"table", "Bridge"},
                 {"uuid-name", "bridge"},
                 {"row",
                  {{"name", bridge},
                   {"ports", named_uuid("port")},
                   {"datapath_type", datapath_type},
                   {"fail_mode", "secure"},
                   {"other_config", ovs_map({{"disable-in-band", "true"}})}}}});
  ops.push_back({{"op", "mutate"},
                 {"table", "Open_vSwitch"},
                 {"where", json::array()},
                 {"mutations", json::array({json::array(
                                   {"bridges", "insert", set_of(json::array({named_uuid("bridge")}))})})}});
  for (auto& op : bump_next_cfg()) ops.push_back(std::move(op));
  return ops;
}

json secure_bridge(const std::string& bridge, const std::string& comment) {
  json ops = json::array();
  if (!comment.empty()) ops.push_back(comment_op(comment));
  ops.push_back({{"op", "update"}, {"table", "Bridge"}, {"where", name_is(bridge)}, {"row", {{"fail_mode", "secure"}}}});
  ops.push_back({{"op", "mutate"},
                 {"table", "Bridge"},
                 {"where", name_is(bridge)},
                 {"mutations", json::array({json::array({"other_config", "delete", set_of(json::array({"disable-in-band"}))}),
                                            json::array({"other_config", "insert",
                                                         ovs_map({{"disable-in-band", "true"}})})})}});
  for (auto& op : bump_next_cfg()) ops.push_back(std::move(op));
  return ops;
}

json add_ports(const std::string& bridge, const std::vector<PortSpec>& ports,
               const std::string& comment) {
  json ops = json::array();
  if (!comment.empty()) ops.push_back(comment_op(comment));
  ops.push_back(wait_now("Bridge", name_is(bridge), {"name"}, json::array({{{"name", bridge}}})));
  json port_refs = json::array();
  for (std::size_t i = 0; i < ports.size(); ++i) {
    const PortSpec& p = ports[i];
    const std::string iface = fmt::format("iface{}", i);
    const std::string port = fmt::format("port{}", i);
    json irow = {{"name", p.name}};
    if (!p.type.empty()) irow["type"] = p.type;
    if (!p.options.empty()) irow["options"] = ovs_map(p.options);
    if (p.mtu_request) irow["mtu_request"] = *p.mtu_request;
    if (p.mac) irow["mac"] = *p.mac;
    ops.push_back({{"op", "insert"}, {"table", "Interface"}, {"uuid-name", iface}, {"row", irow}});
    json prow = {{"name", p.name}, {"interfaces", named_uuid(iface)}};
    if (!p.external_ids.empty()) prow["external_ids"] = ovs_map(p.external_ids);
    ops.push_back({{"op", "insert"}, {"table", "Port"}, {"uuid-name", port}, {"row", prow}});
    port_refs.push_back(named_uuid(port));
  }
  ops.push_back({{"op", "mutate"},
                 {"table", "Bridge"},
                 {"where", name_is(bridge)},
                 {"mutations", json::array({json::array({"ports", "insert", set_of(port_refs)})})}});
  for (auto& op : bump_next_cfg()) ops.push_back(std::move(op));
  return ops;
}

json lookup_ports(const std::string& bridge, const std::vector<std::string>& names) {
  json ops = json::array();
  ops.push_back({{"op", "select"},
                 {"table", "Bridge"},
                 {"where", name_is(bridge)},
                 {"columns", json::array({"ports"})}});
  for (const auto& n : names) {
    ops.push_back({{"op", "select"},
                   {"table", "Port"},
                   {"where", name_is(n)},
                   {"columns", json::array({"_uuid", "name"})}});
  }
  return ops;
}

json remove_ports(const std::string& bridge, const std::vector<std::string>& port_uuids,
                  const std::string& comment) {
  json ops = json::array();
  if (!comment.empty()) ops.push_back(comment_op(comment));
  json refs = json::array();
  for (const auto& u : port_uuids) refs.push_back(json::array({"uuid", u}));
  ops.push_back({{"op", "mutate"},
                 {"table", "Bridge"},
                 {"where", name_is(bridge)},
                 {"mutations", json::array({json::array({"ports", "delete", set_of(refs)})})}});
  for (auto& op : bump_next_cfg()) ops.push_back(std::move(op));
  return ops;
}

}  // namespace ovsdb_ops

// ---------------------------------------------------------------------------------------
// Vswitch

std::chrono::milliseconds Vswitch::left(Deadline deadline) const {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (ms.count() <= 0) throw Error("ovsdb: deadline passed", ErrorKind::timeout);
  return ms;
}

// The ops end with bump_next_cfg(): the last result holds our next_cfg. Then poll cur_cfg
// until it reaches it, which is how ovs-vsctl --wait=vswitchd knows the change is live
// (polling rather than a `wait` op: cur_cfg may skip past our value when others bump it).
json Vswitch::transact_and_wait(const json& ops, Deadline deadline) {
  json result = client_.transact(ops, left(deadline));
  const auto& rows = result.back().at("rows");
  if (rows.empty()) throw Error("ovsdb: no Open_vSwitch row (database not initialised?)");
  const std::int64_t target = rows[0].at("next_cfg").get<std::int64_t>();
  const json select = json::array({{{"op", "select"},
                                    {"table", "Open_vSwitch"},
                                    {"where", json::array()},
                                    {"columns", json::array({"cur_cfg"})}}});
  for (;;) {
    json r = client_.transact(select, left(deadline));
    if (r[0]["rows"][0]["cur_cfg"].get<std::int64_t>() >= target) return result;
    if (Clock::now() + std::chrono::milliseconds(5) >= deadline) {
      throw Error(fmt::format("ovs-vswitchd did not apply configuration {} in time (is it running?)",
                              target),
                  ErrorKind::timeout);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void Vswitch::ensure_bridge(const std::string& bridge, const std::string& datapath_type) {
  with_context(fmt::format("ensuring OVS bridge {}", bridge), [&] {
    const auto deadline = Clock::now() + timeout_;
    json r = client_.transact(json::array({{{"op", "select"},
                                            {"table", "Bridge"},
                                            {"where", name_is(bridge)},
                                            {"columns", json::array({"datapath_type", "fail_mode", "other_config"})}}}),
                              left(deadline));
    const auto& rows = r[0]["rows"];
    if (!rows.empty()) {
      const auto have = rows[0]["datapath_type"].get<std::string>();
      if (have != datapath_type) {
        throw Error(fmt::format("the bridge exists with datapath_type \"{}\", not \"{}\"", have,
                                datapath_type),
                    ErrorKind::config);
      }
      const auto& fail_mode = rows[0]["fail_mode"];  // "secure", or ["set", []] when unset
      const bool in_band_off = rows[0]["other_config"].dump().find(R"(["disable-in-band","true"])") != std::string::npos;
      if (!(fail_mode.is_string() && fail_mode.get<std::string>() == "secure") || !in_band_off) {
        log_warning("OVS bridge {} was not in fail_mode=secure with in-band control off: setting both", bridge);
        transact_and_wait(ovsdb_ops::secure_bridge(bridge, "slurm-vm: secure " + bridge), deadline);
      }
      return;
    }
    transact_and_wait(ovsdb_ops::create_bridge(bridge, datapath_type, "slurm-vm: create " + bridge),
                      deadline);
  });
}

void Vswitch::add_ports(const std::string& bridge, const std::vector<PortSpec>& ports,
                        const std::string& comment) {
  if (ports.empty()) return;
  with_context(fmt::format("adding {} port(s) to OVS bridge {}", ports.size(), bridge), [&] {
    const auto deadline = Clock::now() + timeout_;
    transact_and_wait(ovsdb_ops::add_ports(bridge, ports, comment), deadline);
    // ovs-vswitchd reports a port it could not open in Interface.error with ofport -1; the
    // rows stay in the database (the caller's ledger removes them).
    for (const auto& p : ports) {
      auto st = interface_status(p.name);
      if (!st) throw Error(fmt::format("port {} vanished", p.name), ErrorKind::system);
      if (!st->error.empty() || !st->ofport || *st->ofport < 0) {
        throw Error(fmt::format("ovs-vswitchd could not add port {}: {}", p.name,
                                st->error.empty() ? "no OpenFlow port number" : st->error),
                    ErrorKind::system);
      }
    }
  });
}

std::size_t Vswitch::remove_ports(const std::string& bridge, const std::vector<std::string>& names,
                                  const std::string& comment) {
  if (names.empty()) return 0;
  return with_context(fmt::format("removing ports from OVS bridge {}", bridge), [&] {
    const auto deadline = Clock::now() + timeout_;
    // OVSDB deletes set members by uuid only, and a transaction cannot feed one operation's
    // result into the next: look the uuids up first (read-only), then one change.
    json r = client_.transact(ovsdb_ops::lookup_ports(bridge, names), left(deadline));
    std::vector<std::string> on_bridge;
    if (!r[0]["rows"].empty()) {
      for (const auto& u : set_elements(r[0]["rows"][0]["ports"])) on_bridge.push_back(u[1]);
    }
    std::vector<std::string> uuids;
    for (std::size_t i = 0; i < names.size(); ++i) {
      const auto& rows = r[i + 1]["rows"];
      if (rows.empty()) continue;  // no such port: already removed
      const std::string uuid = rows[0]["_uuid"][1].get<std::string>();
      if (std::find(on_bridge.begin(), on_bridge.end(), uuid) == on_bridge.end()) {
        throw Error(fmt::format("port {} is not on bridge {}", names[i], bridge),
                    ErrorKind::system);
      }
      uuids.push_back(uuid);
    }
    if (uuids.empty()) return std::size_t{0};
    transact_and_wait(ovsdb_ops::remove_ports(bridge, uuids, comment), deadline);
    return uuids.size();
  });
}

void Vswitch::ensure_tunnel_port(const std::string& bridge, const std::string& name,
                                 const std::string& type) {
  with_context(fmt::format("ensuring tunnel port {} on OVS bridge {}", name, bridge), [&] {
    const std::map<std::string, std::string> want{{"key", "flow"}, {"remote_ip", "flow"}};
    if (auto st = interface_status(name)) {
      if (st->type != type || st->options != want) {
        throw Error(fmt::format("an interface {} exists with other settings (type \"{}\")", name,
                                st->type),
                    ErrorKind::config);
      }
      // Port names are unique across bridges: after a site moves slurm-vm to another bridge
      // (slurm-vm.yaml ovs.bridge) the old tunnel port must go before the new one can exist.
      json r = client_.transact(ovsdb_ops::lookup_ports(bridge, {name}), timeout_);
      bool on_bridge = false;
      if (!r[0]["rows"].empty() && !r[1]["rows"].empty()) {
        const std::string uuid = r[1]["rows"][0]["_uuid"][1].get<std::string>();
        for (const auto& u : set_elements(r[0]["rows"][0]["ports"])) on_bridge = on_bridge || u[1] == uuid;
      }
      if (!on_bridge) {
        throw Error(fmt::format("port {} exists on another bridge; after changing the bridge, remove it "
                                "(ovs-vsctl del-port {})",
                                name, name),
                    ErrorKind::config);
      }
      return;
    }
    add_ports(bridge, {PortSpec{name, type, want, {}, std::nullopt, std::nullopt}},
              "slurm-vm: node tunnel port");
  });
}

std::optional<InterfaceStatus> Vswitch::interface_status(const std::string& name) {
  json r = client_.transact(json::array({{{"op", "select"},
                                          {"table", "Interface"},
                                          {"where", name_is(name)},
                                          {"columns", json::array({"ofport", "error", "type",
                                                                   "options"})}}}),
                            timeout_);
  const auto& rows = r[0]["rows"];
  if (rows.empty()) return std::nullopt;
  InterfaceStatus st;
  for (const auto& v : set_elements(rows[0]["ofport"])) st.ofport = v.get<std::int64_t>();
  for (const auto& v : set_elements(rows[0]["error"])) st.error = v.get<std::string>();
  st.type = rows[0]["type"].get<std::string>();
  st.options = map_value(rows[0]["options"]);
  return st;
}

std::vector<std::string> Vswitch::list_ports(const std::string& bridge) {
  json r = client_.transact(ovsdb_ops::lookup_ports(bridge, {}), timeout_);
  if (r[0]["rows"].empty()) {
    throw Error(fmt::format("no OVS bridge {}", bridge), ErrorKind::not_found);
  }
  json ops = json::array();
  for (const auto& u : set_elements(r[0]["rows"][0]["ports"])) {
    ops.push_back({{"op", "select"},
                   {"table", "Port"},
                   {"where", json::array({cond("_uuid", "==", u)})},
                   {"columns", json::array({"name"})}});
  }
  std::vector<std::string> names;
  if (ops.empty()) return names;
  for (const auto& res : client_.transact(ops, timeout_)) {
    for (const auto& row : res["rows"]) {
      // Like ovs-vsctl list-ports: the bridge's own internal port is not listed.
      if (row["name"] != bridge) names.push_back(row["name"].get<std::string>());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace slurmvm::netsetup
