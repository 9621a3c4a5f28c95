// The transactions the root helpers send, as pure JSON (ovsdb.hpp, ovsdb_ops).
#include "netsetup/ovsdb.hpp"

#include <fmt/format.h>

#include "error.hpp"
#include "netsetup/ovsdb_json.hpp"

namespace slurmvm::netsetup {

using nlohmann::json;
using namespace ovsdb_json;

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

}  // namespace slurmvm::netsetup
