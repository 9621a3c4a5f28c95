// Host changes (host_changes.hpp): every op's ledger record is the one its type writes and
// reads back, byte for byte what earlier versions wrote (a ledger outlives an upgrade of the
// node), and a record that lacks a field or names an unknown op is refused before any undo.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <variant>

#include "error.hpp"
#include "netsetup/host_changes.hpp"
#include "netsetup/node_effects.hpp"
#include "netsetup/node_job.hpp"

using namespace slurmvm::netsetup;
using slurmvm::Error;

namespace {

// One record of every op, as vm-prolog wrote them before the ops were types (keys sorted:
// nlohmann::json's objects are), plus the jail's.
const char* const kRecords[] = {
    R"({"bridge":"br-int","datapath":"netdev","op":"node.bridge"})",
    R"({"bridge":"br-int","op":"node.tunnel","port":"svm-gre"})",
    R"({"bridge":"br-int","op":"node.base_flows"})",
    R"({"job":4242,"op":"node.ip_forward"})",
    R"({"job":4242,"name":"svm1092.0","op":"tap.create","owner":65534})",
    R"({"bridge":"br-lan","job":4242,"name":"svm1092.2001","op":"tap.bridge"})",
    R"({"group":1398145046,"job":4242,"op":"taps.group"})",
    R"({"job":4242,"log_file":"/run/slurm-vm/dnsmasq/4242.log","op":"dhcp.jail","pid_file":"/run/slurm-vm/dnsmasq/4242.pid","port":"svmdh1092"})",
    R"({"job":4242,"op":"dhcp.start","pid_file":"/run/slurm-vm/dnsmasq/4242.pid"})",
    R"({"bridge":"br-int","job":4242,"names":["svm1092.0","svm1092.1","svmgw1092","svmdh1092"],"op":"ovs.ports"})",
    R"({"address":"10.251.88.1/22","job":4242,"name":"svmgw1092","op":"gateway.address"})",
    R"({"bridge":"br-int","job":4242,"op":"flows.job"})",
    R"({"job":4242,"op":"state.write"})",
    R"({"job":4242,"op":"jobdir.write"})",
    R"({"job":4242,"op":"nat.sync"})",
    R"({"job":4244,"network":"ib","node":"nodeA","op":"ib.pkey","store":"/var/lib/slurm-vm/store"})",
    R"({"etcd":["http://10.0.0.2:2379"],"etcd_prefix":"/slurm-vm/pkeys/","job":4244,"network":"ib","node":"nodeA","op":"ib.pkey","store":""})",
    R"({"device":"mlx5_0","job":4244,"node_guid":"0xd2cc200000000000","op":"ib.vf_guids","pf":"0000:3b:00.0","port_guid":"0xc2cc200000000000","previous_node_guid":"0x0000000000001111","previous_port_guid":"0x0000000000002222","vf":0})",
    R"({"bdf":"0000:3b:00.1","driver":"mlx5_core","job":4244,"op":"pci.vfio"})",
    R"({"group":41,"job":4244,"op":"vfio.owner","owner":1000})",
};

}  // namespace

TEST(HostChanges, EveryRecordRoundTripsByteForByte) {
  std::set<std::string> ops;
  for (const char* text : kRecords) {
    const auto record = nlohmann::json::parse(text);
    const HostChange change = parse_change(record);
    EXPECT_EQ(to_record(change).dump(), text);
    EXPECT_EQ(op_of(change), record.at("op").get<std::string>());
    ops.insert(std::string(op_of(change)));
  }
  // Every type of the variant is covered above.
  EXPECT_EQ(ops.size(), std::variant_size_v<HostChange>);
}

TEST(HostChanges, TypedFieldsReachTheRecord) {
  const HostChange c = change::TapCreate{42, "svm2a.0", 1000};
  EXPECT_EQ(to_record(c).dump(), R"({"job":42,"name":"svm2a.0","op":"tap.create","owner":1000})");
  const auto back = std::get<change::TapCreate>(parse_change(to_record(c)));
  EXPECT_EQ(back.name, "svm2a.0");
  EXPECT_EQ(back.owner, 1000u);
  // flows.job records from before ovs.bridge have no bridge: the default bridge then.
  const auto old = std::get<change::JobFlows>(parse_change(nlohmann::json::parse(R"({"job":7,"op":"flows.job"})")));
  EXPECT_EQ(old.job, 7u);
  EXPECT_TRUE(old.bridge.empty());
  EXPECT_EQ(to_record(old).dump(), R"({"job":7,"op":"flows.job"})");
}

TEST(HostChanges, BadRecordsAreRefused) {
  EXPECT_THROW(parse_change(nlohmann::json::parse(R"({"op":"tap.destroy","name":"x"})")), Error);
  EXPECT_THROW(parse_change(nlohmann::json::parse(R"({"job":1,"op":"tap.create","owner":0})")), Error);  // no name
  EXPECT_THROW(parse_change(nlohmann::json::parse(R"({"job":"1","op":"nat.sync"})")), Error);  // not a number
  EXPECT_THROW(parse_change(nlohmann::json::parse(R"({"name":"x"})")), Error);
  EXPECT_THROW(parse_change(nlohmann::json::parse(R"(["tap.create"])")), Error);
}

TEST(HostChanges, EveryOpHasAnUndoHandler) {
  RealNodeEffects node{NodePaths{}};  // not called: the handlers are only counted
  const auto handlers = change_undo_handlers(node, NodePaths{}, 42);
  EXPECT_EQ(handlers.size(), std::variant_size_v<HostChange>);
  for (const char* text : kRecords) {
    EXPECT_TRUE(handlers.count(nlohmann::json::parse(text).at("op").get<std::string>())) << text;
  }
}
