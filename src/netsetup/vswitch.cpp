// Vswitch: transactions that wait until ovs-vswitchd has applied them (ovsdb.hpp).
#include "netsetup/ovsdb.hpp"

#include <algorithm>
#include <charconv>
#include <thread>

#include <fmt/format.h>

#include "deadline.hpp"
#include "error.hpp"
#include "log.hpp"
#include "netsetup/ovsdb_json.hpp"

namespace slurmvm::netsetup {

using nlohmann::json;
using namespace ovsdb_json;

// ---------------------------------------------------------------------------------------
// Vswitch

std::chrono::milliseconds Vswitch::left(Deadline deadline) const {
  if (expired(deadline)) throw Error("ovsdb: deadline passed", ErrorKind::timeout);
  return time_left(deadline);
}

// The ops end with bump_next_cfg(): the last result holds our next_cfg. Then poll cur_cfg
// until it reaches it, which is how ovs-vsctl --wait=vswitchd knows the change is live
// (polling rather than a `wait` op: cur_cfg may skip past our value when others bump it).
json Vswitch::transact_and_wait(const json& ops, Deadline deadline) {
  auto [result, target] = transact_bumping(ops, deadline);
  wait_applied(target, deadline);
  return std::move(result);
}

std::pair<json, std::int64_t> Vswitch::transact_bumping(const json& ops, Deadline deadline) {
  json result = client_.transact(ops, left(deadline));
  const auto& rows = result.back().at("rows");
  if (rows.empty()) throw Error("ovsdb: no Open_vSwitch row (database not initialised?)");
  const std::int64_t target = rows[0].at("next_cfg").get<std::int64_t>();
  return {std::move(result), target};
}

void Vswitch::wait_applied(std::int64_t target, Deadline deadline) {
  const json select = json::array({{{"op", "select"},
                                    {"table", "Open_vSwitch"},
                                    {"where", json::array()},
                                    {"columns", json::array({"cur_cfg"})}}});
  PollBackoff backoff(deadline);
  for (;;) {
    json r = client_.transact(select, left(deadline));
    if (r[0]["rows"][0]["cur_cfg"].get<std::int64_t>() >= target) return;
    // (A pause cut at the deadline ends the wait here, not in the next select's own timeout,
    // whose message would not say what was awaited.)
    if (!backoff.pause() || expired(deadline)) {
      throw Error(fmt::format("ovs-vswitchd did not apply configuration {} in time (is it running?)",
                              target),
                  ErrorKind::timeout);
    }
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
  std::vector<std::string> names;
  for (const auto& p : ports) names.push_back(p.name);
  await_ports(commit_add_ports(bridge, ports, comment), names);
}

std::int64_t Vswitch::commit_add_ports(const std::string& bridge, const std::vector<PortSpec>& ports,
                                       const std::string& comment) {
  if (ports.empty()) return 0;
  return with_context(fmt::format("adding {} port(s) to OVS bridge {}", ports.size(), bridge), [&] {
    return transact_bumping(ovsdb_ops::add_ports(bridge, ports, comment), Clock::now() + timeout_).second;
  });
}

void Vswitch::await_ports(std::int64_t cfg, const std::vector<std::string>& names) {
  if (names.empty()) return;
  with_context(fmt::format("waiting for ovs-vswitchd to open {} port(s)", names.size()), [&] {
    wait_applied(cfg, Clock::now() + timeout_);
    // ovs-vswitchd reports a port it could not open in Interface.error with ofport -1; the
    // rows stay in the database (the caller's ledger removes them).
    port_numbers(names);
  });
}

std::map<std::string, std::uint32_t> Vswitch::port_numbers(const std::vector<std::string>& names) {
  std::map<std::string, std::uint32_t> out;
  if (names.empty()) return out;
  json ops = json::array();
  for (const auto& name : names) {
    ops.push_back({{"op", "select"},
                   {"table", "Interface"},
                   {"where", name_is(name)},
                   {"columns", json::array({"ofport", "error"})}});
  }
  const json r = client_.transact(ops, timeout_);
  for (std::size_t i = 0; i < names.size(); ++i) {
    const auto& rows = r[i]["rows"];
    if (rows.empty()) throw Error(fmt::format("port {} vanished from OVSDB", names[i]), ErrorKind::system);
    std::int64_t ofport = -1;
    std::string error;
    for (const auto& v : set_elements(rows[0]["ofport"])) ofport = v.get<std::int64_t>();
    for (const auto& v : set_elements(rows[0]["error"])) error = v.get<std::string>();
    // OpenFlow ports 1..0xfeff are physical and logical ports (OpenFlow 1.4 §7.2.1, OFPP_MAX).
    if (!error.empty() || ofport < 1 || ofport > 0xfeff) {
      throw Error(fmt::format("ovs-vswitchd could not add port {}: {}", names[i],
                              error.empty() ? "no OpenFlow port number" : error),
                  ErrorKind::system);
    }
    out[names[i]] = static_cast<std::uint32_t>(ofport);
  }
  return out;
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
    // Committed, not waited for: ovs-vswitchd finishes the removal on its own (its
    // reconfiguration grows with the bridge's ports: ~150 ms of every epilog was spent here).
    // Nothing after it needs the ports gone from the datapath: port names carry the job id, so
    // no later job reuses them; the job's flows are deleted by cookie; a TAP deleted before
    // ovs-vswitchd lets go of it is a vanished netdev it drops anyway; and the next change that
    // does wait (a prolog's add_ports) waits for this configuration too (cur_cfg is ordered).
    client_.transact(ovsdb_ops::remove_ports(bridge, uuids, comment), left(deadline));
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

std::map<std::uint32_t, std::vector<std::string>> Vswitch::job_ports(const std::string& bridge) {
  std::map<std::uint32_t, std::vector<std::string>> out;
  json r = client_.transact(ovsdb_ops::lookup_ports(bridge, {}), timeout_);
  if (r[0]["rows"].empty()) return out;  // no bridge: no port of any job
  json ops = json::array();
  for (const auto& u : set_elements(r[0]["rows"][0]["ports"])) {
    ops.push_back({{"op", "select"},
                   {"table", "Port"},
                   {"where", json::array({cond("_uuid", "==", u)})},
                   {"columns", json::array({"name", "external_ids"})}});
  }
  if (ops.empty()) return out;
  for (const auto& res : client_.transact(ops, timeout_)) {
    for (const auto& row : res["rows"]) {
      const auto ids = map_value(row["external_ids"]);
      const auto tag = ids.find("slurm-vm-job");
      if (tag == ids.end()) continue;
      std::uint32_t job = 0;
      const std::string& v = tag->second;
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), job);
      if (ec != std::errc() || end != v.data() + v.size() || job == 0) continue;
      out[job].push_back(row["name"].get<std::string>());
    }
  }
  return out;
}

}  // namespace slurmvm::netsetup
