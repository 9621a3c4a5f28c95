// JSON building blocks of RFC 7047 shared by the OVSDB client, the transaction builders and
// Vswitch (ovsdb.hpp): conditions, maps, sets, named uuids, `wait` and `comment` operations.
// Internal to src/netsetup.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace slurmvm::netsetup::ovsdb_json {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

inline constexpr const char* kDatabase = "Open_vSwitch";

// <condition> (RFC 7047 §5.1): [column, function, value].
inline json cond(const std::string& column, const char* function, json value) {
  return json::array({column, function, std::move(value)});
}

inline json name_is(const std::string& name) { return json::array({cond("name", "==", name)}); }

// <map> (§5.1): ["map", [[key, value], ...]].
inline json ovs_map(const std::map<std::string, std::string>& m) {
  json pairs = json::array();
  for (const auto& [k, v] : m) pairs.push_back(json::array({k, v}));
  return json::array({"map", std::move(pairs)});
}

inline json named_uuid(const std::string& name) { return json::array({"named-uuid", name}); }

inline json set_of(json elements) { return json::array({"set", std::move(elements)}); }

// A set column as returned by the server: a lone atom, or ["set", [...]]; a uuid atom is
// ["uuid", "..."] and must not be mistaken for a set.
inline std::vector<json> set_elements(const json& v) {
  if (v.is_array() && v.size() == 2 && v[0] == "set") return v[1].get<std::vector<json>>();
  return {v};
}

inline std::map<std::string, std::string> map_value(const json& v) {
  std::map<std::string, std::string> out;
  if (v.is_array() && v.size() == 2 && v[0] == "map") {
    for (const auto& kv : v[1]) out[kv[0].get<std::string>()] = kv[1].get<std::string>();
  }
  return out;
}

inline json comment_op(const std::string& comment) {
  return {{"op", "comment"}, {"comment", comment}};
}

// A `wait` (§5.2.6) with timeout 0: the transaction aborts unless the rows selected by
// `where` (projected on `columns`) equal `rows` right now.
inline json wait_now(const std::string& table, json where, std::vector<std::string> columns, json rows) {
  return {{"op", "wait"},       {"table", table}, {"timeout", 0},  {"where", std::move(where)},
          {"columns", columns}, {"until", "=="},  {"rows", std::move(rows)}};
}

inline std::string describe(const json& op) {
  std::string s = op.value("op", "?");
  if (op.contains("table")) s += " " + op["table"].get<std::string>();
  if (op.contains("row") && op["row"].contains("name")) s += " " + op["row"]["name"].dump();
  if (op.contains("where")) s += " where " + op["where"].dump();
  return s;
}

}  // namespace slurmvm::netsetup::ovsdb_json
