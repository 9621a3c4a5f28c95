// OVSDB client, the pure parts: the golden JSON of every transaction the prolog sends, and how
// a failed transaction is reported. (The stream decoder: json_stream_test.cpp.)
#include <gtest/gtest.h>

#include "error.hpp"
#include "netsetup/ovsdb.hpp"

using nlohmann::json;
using slurmvm::Error;
using namespace slurmvm::netsetup;

TEST(OvsdbOps, AddPortsGolden) {
  PortSpec tap{"svm42-0", "", {}, {{"slurm-vm-job", "42"}}, 1450u, std::nullopt};
  PortSpec gre{"svm-gre", "gre", {{"remote_ip", "flow"}, {"key", "flow"}}, {}, std::nullopt, std::nullopt};
  const json ops = ovsdb_ops::add_ports("br-int", {tap, gre}, "slurm-vm: job 42");
  const json expected = R"([
    {"op":"comment","comment":"slurm-vm: job 42"},
    {"op":"wait","table":"Bridge","timeout":0,"where":[["name","==","br-int"]],
     "columns":["name"],"until":"==","rows":[{"name":"br-int"}]},
    {"op":"insert","table":"Interface","uuid-name":"iface0",
     "row":{"name":"svm42-0","mtu_request":1450}},
    {"op":"insert","table":"Port","uuid-name":"port0",
     "row":{"name":"svm42-0","interfaces":["named-uuid","iface0"],
            "external_ids":["map",[["slurm-vm-job","42"]]]}},
    {"op":"insert","table":"Interface","uuid-name":"iface1",
     "row":{"name":"svm-gre","type":"gre","options":["map",[["key","flow"],["remote_ip","flow"]]]}},
    {"op":"insert","table":"Port","uuid-name":"port1",
     "row":{"name":"svm-gre","interfaces":["named-uuid","iface1"]}},
    {"op":"mutate","table":"Bridge","where":[["name","==","br-int"]],
     "mutations":[["ports","insert",["set",[["named-uuid","port0"],["named-uuid","port1"]]]]]},
    {"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["next_cfg","+=",1]]},
    {"op":"select","table":"Open_vSwitch","where":[],"columns":["next_cfg"]}
  ])"_json;
  EXPECT_EQ(ops, expected) << ops.dump(2);
}

TEST(OvsdbOps, CreateBridgeGolden) {
  const json ops = ovsdb_ops::create_bridge("br-int", "netdev");
  const json expected = R"([
    {"op":"wait","table":"Bridge","timeout":0,"where":[["name","==","br-int"]],
     "columns":["name"],"until":"==","rows":[]},
    {"op":"insert","table":"Interface","uuid-name":"iface","row":{"name":"br-int","type":"internal"}},
    {"op":"insert","table":"Port","uuid-name":"port",
     "row":{"name":"br-int","interfaces":["named-uuid","iface"]}},
    {"op":"insert","table":"Bridge","uuid-name":"bridge",
     "row":{"name":"br-int","ports":["named-uuid","port"],"datapath_type":"netdev","fail_mode":"secure","other_config":["map",[["disable-in-band","true"]]]}},
    {"op":"mutate","table":"Open_vSwitch","where":[],
     "mutations":[["bridges","insert",["set",[["named-uuid","bridge"]]]]]},
    {"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["next_cfg","+=",1]]},
    {"op":"select","table":"Open_vSwitch","where":[],"columns":["next_cfg"]}
  ])"_json;
  EXPECT_EQ(ops, expected) << ops.dump(2);
}

TEST(OvsdbOps, LookupAndRemovePortsGolden) {
  const json lookup = ovsdb_ops::lookup_ports("br-int", {"a", "b"});
  EXPECT_EQ(lookup, R"([
    {"op":"select","table":"Bridge","where":[["name","==","br-int"]],"columns":["ports"]},
    {"op":"select","table":"Port","where":[["name","==","a"]],"columns":["_uuid","name"]},
    {"op":"select","table":"Port","where":[["name","==","b"]],"columns":["_uuid","name"]}
  ])"_json) << lookup.dump(2);

  const json remove = ovsdb_ops::remove_ports("br-int", {"u1", "u2"});
  EXPECT_EQ(remove, R"([
    {"op":"mutate","table":"Bridge","where":[["name","==","br-int"]],
     "mutations":[["ports","delete",["set",[["uuid","u1"],["uuid","u2"]]]]]},
    {"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["next_cfg","+=",1]]},
    {"op":"select","table":"Open_vSwitch","where":[],"columns":["next_cfg"]}
  ])"_json) << remove.dump(2);
}

TEST(OvsdbOps, NamesAreDataNeverSyntax) {
  // A hostile name stays one JSON string: the encoder escapes it.
  const json ops = ovsdb_ops::add_ports("br\"],[\"x", {PortSpec{"p\"}", "", {}, {}, {}, {}}});
  EXPECT_EQ(ops[0]["where"][0][2], "br\"],[\"x");
  EXPECT_EQ(ops[1]["row"]["name"], "p\"}");
}

TEST(OvsdbResult, NamesTheFailedOperationAndDetails) {
  const json ops = ovsdb_ops::add_ports("br-int", {PortSpec{"svm42-0", "", {}, {}, {}, {}}});
  const json result = R"([{"error":"timed out","details":"\"wait\" timed out"},null,null])"_json;
  try {
    check_transact_result(ops, result);
    FAIL();
  } catch (const Error& e) {
    const std::string w = e.what();
    EXPECT_NE(w.find("operation 1 of 6 (wait Bridge where [[\"name\",\"==\",\"br-int\"]])"),
              std::string::npos) << w;
    EXPECT_NE(w.find("timed out: \"wait\" timed out"), std::string::npos) << w;
  }
}

TEST(OvsdbResult, ReportsCommitErrorsAfterTheLastOperation) {
  const json ops = json::array({{{"op", "insert"}, {"table", "Port"}, {"row", {{"name", "p"}}}}});
  const json result = R"([{"uuid":["uuid","x"]},
    {"error":"constraint violation","details":"Transaction causes multiple rows in \"Port\" table to have identical values (\"p\") for index on column \"name\"."}])"_json;
  try {
    check_transact_result(ops, result);
    FAIL();
  } catch (const Error& e) {
    const std::string w = e.what();
    EXPECT_NE(w.find("at commit: constraint violation: Transaction causes"), std::string::npos) << w;
  }
  EXPECT_NO_THROW(check_transact_result(ops, R"([{"uuid":["uuid","x"]}])"_json));
}
