// vm-prolog's pure part: input validation (golden messages), which VMs a node builds for
// uneven allocations, vms.json and the node's job record.
#include <gtest/gtest.h>

#include <map>

#include "error.hpp"
#include "netsetup/node_job.hpp"
#include "netsetup/node_plan.hpp"

using namespace slurmvm;
using namespace slurmvm::netsetup;

namespace {

// The job's VMs on one L3 network each (the sandbox's default resource set).
NodePlan plan_l3(const JobInputs& in, const AddressPlan& plan) {
  return plan_node(in, plan, single_l3_network(in.vm_count));
}


using Env = std::map<std::string, std::string>;

Env good_env() {
  return {{"SLURM_JOB_ID", "4242"},         {"SLURM_JOB_UID", "1000"},
          {"SLURM_JOB_GID", "1000"},        {"SLURMD_NODENAME", "nodeA"},
          {"SLURM_JOB_NODELIST", "nodeA,nodeB"}, {"SLURM_JOB_CPUS_PER_NODE", "2,1"},
          {"SPANK_VM_TEMPLATE", "master:1,compute:2"}};
}

EnvLookup lookup(const Env& env) {
  return [env](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

// The message of the error parse_job_inputs throws, with whether it is the job's fault.
std::pair<std::string, bool> input_error(Env env) {
  try {
    parse_job_inputs(lookup(env));
  } catch (const JobError& e) {
    return {e.what(), true};
  } catch (const Error& e) {
    return {e.what(), false};
  }
  return {"no error", false};
}

}  // namespace

TEST(PrologInputs, Good) {
  const auto in = parse_job_inputs(lookup(good_env()));
  EXPECT_EQ(in.job_id, 4242u);
  EXPECT_EQ(in.uid, 1000u);
  EXPECT_EQ(in.gid, 1000u);
  EXPECT_EQ(in.node, "nodeA");
  EXPECT_EQ(in.nodes, (std::vector<std::string>{"nodeA", "nodeB"}));
  EXPECT_EQ(in.cpus_per_node, (std::vector<std::uint32_t>{2, 1}));
  EXPECT_EQ(in.vm_count, 3u);
  EXPECT_EQ(in.definition, "master:1,compute:2");
}

TEST(PrologInputs, FallbacksAndVmJobDetection) {
  auto env = good_env();
  env.erase("SLURM_JOB_GID");
  env.erase("SLURM_JOB_NODELIST");
  env["SLURM_NODELIST"] = "node[1-2]";
  env["SLURMD_NODENAME"] = "node2";
  env["SLURM_JOB_CPUS_PER_NODE"] = "2(x2)";
  const auto in = parse_job_inputs(lookup(env));
  EXPECT_FALSE(in.gid);
  EXPECT_EQ(in.nodes, (std::vector<std::string>{"node1", "node2"}));
  EXPECT_TRUE(is_vm_job(lookup(env)));
  env["SPANK_VM_TEMPLATE"] = "";
  EXPECT_FALSE(is_vm_job(lookup(env)));
  env.erase("SPANK_VM_TEMPLATE");
  EXPECT_FALSE(is_vm_job(lookup(env)));
}

TEST(PrologInputs, GoldenErrors) {
  struct Case {
    std::string var, value, message;
    bool job_error;
  };
  const std::vector<Case> cases = {
      {"SLURM_JOB_ID", "", "SLURM_JOB_ID is not set: slurmd did not describe the job", false},
      {"SLURM_JOB_ID", "42x", "SLURM_JOB_ID: \"42x\" is not a number in [0, 4294967294]", false},
      {"SLURM_JOB_ID", "-1", "SLURM_JOB_ID: \"-1\" is not a number in [0, 4294967294]", false},
      {"SLURM_JOB_ID", "0042", "SLURM_JOB_ID: \"0042\" is not a number in [0, 4294967294]", false},
      {"SLURM_JOB_ID", "0", "SLURM_JOB_ID: 0 is not a job id", false},
      {"SLURM_JOB_ID", "4294967295", "SLURM_JOB_ID: \"4294967295\" is not a number in [0, 4294967294]", false},
      {"SLURM_JOB_UID", "root", "SLURM_JOB_UID: \"root\" is not a number in [0, 4294967294]", false},
      {"SLURM_JOB_UID", "4294967295", "SLURM_JOB_UID: \"4294967295\" is not a number in [0, 4294967294]", false},
      {"SLURM_JOB_GID", " 1", "SLURM_JOB_GID: \" 1\" is not a number in [0, 4294967294]", false},
      {"SLURMD_NODENAME", "node A", "SLURMD_NODENAME: \"node A\" is not a valid node name", false},
      {"SLURMD_NODENAME", "-n", "SLURMD_NODENAME: \"-n\" is not a valid node name", false},
      {"SLURM_JOB_CPUS_PER_NODE", "2", "SLURM_JOB_CPUS_PER_NODE names 1 nodes, SLURM_JOB_NODELIST names 2", false},
      {"SPANK_VM_TEMPLATE", "master:0",
       "invalid cluster definition (--vm-template): ", true},
      {"SPANK_VM_TEMPLATE", "../etc/passwd:1",
       "invalid cluster definition (--vm-template): ", true},
      {"SPANK_VM_TEMPLATE", std::string(5000, 'a'),
       "the cluster definition is longer than 4096 characters", true},
  };
  for (const auto& c : cases) {
    auto env = good_env();
    env[c.var] = c.value;
    const auto [message, job] = input_error(env);
    if (c.message.back() == ' ') {
      EXPECT_EQ(message.substr(0, c.message.size()), c.message) << c.var << "=" << c.value;
    } else {
      EXPECT_EQ(message, c.message) << c.var << "=" << c.value;
    }
    EXPECT_EQ(job, c.job_error) << c.var << "=" << c.value << ": " << message;
  }
}

TEST(PrologPlan, ThreeVmsOnTwoNodesUneven) {
  const auto plan = AddressPlan::default_plan();
  auto env = good_env();
  const auto a = plan_l3(parse_job_inputs(lookup(env)), plan);
  env["SLURMD_NODENAME"] = "nodeB";
  const auto b = plan_l3(parse_job_inputs(lookup(env)), plan);

  ASSERT_EQ(a.local.size(), 2u);
  EXPECT_EQ(a.local[0].rank, 0u);
  EXPECT_EQ(a.local[1].rank, 1u);
  EXPECT_EQ(a.local[0].tap, "svm1092.0");
  EXPECT_EQ(a.local[1].tap, "svm1092.1");
  ASSERT_EQ(a.remote.size(), 1u);
  EXPECT_EQ(a.remote[0].rank, 2u);
  EXPECT_EQ(a.remote[0].node_index, 1u);

  ASSERT_EQ(b.local.size(), 1u);
  EXPECT_EQ(b.local[0].rank, 2u);
  EXPECT_EQ(b.local[0].tap, "svm1092.2");
  EXPECT_EQ(b.remote.size(), 2u);
  EXPECT_EQ(b.node_index, 1u);

  // Same network, same gateway on both nodes; the gateway MAC is no VM's.
  EXPECT_EQ(a.network_id, b.network_id);
  EXPECT_EQ(a.gateway_ip, b.gateway_ip);
  EXPECT_EQ(a.gateway_mac, b.gateway_mac);
  EXPECT_EQ(a.gateway_port, "svmgw1092");
  for (const auto& vm : a.all) EXPECT_NE(vm.address.mac, a.gateway_mac);
  EXPECT_EQ(a.gateway_mac[5], 0xff);
  EXPECT_EQ(a.gateway_mac[4] & 0x0f, 0x0f);
}

// master:1 (2 CPUs) and compute:2 (1 CPU each) as heterogeneous job 4242 (components 4242 on
// nodeA, 4243 on nodeB): each component's prolog knows the whole job, by the first one's id.
TEST(PrologPlan, HeterogeneousComponentsShareOneNetwork) {
  const auto plan = AddressPlan::default_plan();
  const std::vector<ComponentAllocation> comps = {{4242, {"nodeA"}, {2}}, {4243, {"nodeB"}, {2}}};
  Env env = good_env();
  env["SLURM_HET_JOB_ID"] = "4242";
  env["SLURM_JOB_ID"] = "4243";
  env["SLURMD_NODENAME"] = "nodeB";
  env["SLURM_JOB_NODELIST"] = "nodeB";
  env["SLURM_JOB_CPUS_PER_NODE"] = "2";
  const auto in_b = parse_job_inputs(lookup(env));
  EXPECT_EQ(in_b.job_id, 4242u);
  EXPECT_EQ(in_b.component_job_id, 4243u);
  EXPECT_TRUE(is_het_component(in_b));
  EXPECT_EQ(job_id_from_env(lookup(env)), 4242u);  // the epilog's too
  const auto b = plan_l3(with_het_components(in_b, comps), plan);
  ASSERT_EQ(b.local.size(), 2u);
  EXPECT_EQ(b.local[0].rank, 1u);
  EXPECT_EQ(b.local[1].tap, "svm1092.2");  // the first component's id
  ASSERT_EQ(b.remote.size(), 1u);
  EXPECT_EQ(b.remote[0].rank, 0u);
  EXPECT_EQ(b.node_index, 1u);

  env = good_env();
  env["SLURM_HET_JOB_ID"] = "4242";
  env["SLURM_JOB_NODELIST"] = "nodeA";
  env["SLURM_JOB_CPUS_PER_NODE"] = "2";
  const auto a = plan_l3(with_het_components(parse_job_inputs(lookup(env)), comps), plan);
  ASSERT_EQ(a.local.size(), 1u);
  EXPECT_EQ(a.local[0].rank, 0u);
  EXPECT_EQ(a.network_id, b.network_id);
  EXPECT_EQ(a.gateway_port, b.gateway_port);

  // slurmd and slurmctld disagree about this component: a node fault, not a guess.
  const std::vector<ComponentAllocation> other = {{4242, {"nodeA"}, {2}}, {4243, {"nodeC"}, {2}}};
  try {
    with_het_components(in_b, other);
    FAIL() << "accepted";
  } catch (const JobError&) {
    FAIL() << "a JobError";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "slurmctld's nodes and CPUs of job 4243 are not slurmd's");
  }
  // A cluster of two groups submitted by hand as three components: the job's fault.
  const std::vector<ComponentAllocation> three = {{4242, {"nodeA"}, {2}}, {4243, {"nodeB"}, {2}}, {4244, {"nodeC"}, {1}}};
  EXPECT_THROW(with_het_components(in_b, three), JobError);
}

TEST(PrologPlan, OneVmOnTwoNodesLeavesTheSecondEmpty) {
  auto env = good_env();
  env["SPANK_VM_TEMPLATE"] = "a:1";
  env["SLURM_JOB_CPUS_PER_NODE"] = "1(x2)";
  env["SLURMD_NODENAME"] = "nodeB";
  const auto p = plan_l3(parse_job_inputs(lookup(env)), AddressPlan::default_plan());
  EXPECT_TRUE(p.local.empty());
  EXPECT_EQ(p.remote.size(), 1u);
}

TEST(PrologPlan, NodeNotInListIsANodeFaultTooFewCpusIsTheJobs) {
  auto env = good_env();
  env["SLURMD_NODENAME"] = "nodeC";
  try {
    plan_l3(parse_job_inputs(lookup(env)), AddressPlan::default_plan());
    FAIL();
  } catch (const JobError&) {
    FAIL() << "not the job's fault";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "this node (nodeC) is not in the job's node list");
  }
  env = good_env();
  env["SPANK_VM_TEMPLATE"] = "a:4";
  EXPECT_THROW(plan_l3(parse_job_inputs(lookup(env)), AddressPlan::default_plan()), JobError);
}

TEST(PrologPlan, VmsJson) {
  const auto p = plan_l3(parse_job_inputs(lookup(good_env())), AddressPlan::default_plan());
  const auto j = vms_json(p, {60222, 60223});
  const auto netid = p.network_id;
  EXPECT_EQ(j.at("network_id"), netid);
  ASSERT_EQ(j.at("vms").size(), 2u);
  const auto& vm1 = j.at("vms").at("1");
  ASSERT_EQ(vm1.at("nics").size(), 1u);
  const auto& eth0 = vm1.at("nics").at(0);
  EXPECT_EQ(eth0.at("tap"), "svm1092.1");
  EXPECT_EQ(eth0.at("ip"), format_ipv4(p.local[1].address.ip));
  EXPECT_EQ(eth0.at("mac"), format_mac(p.local[1].address.mac));
  EXPECT_EQ(eth0.at("prefix"), 20);
  EXPECT_EQ(eth0.at("gateway"), format_ipv4(p.gateway_ip));
  EXPECT_EQ(eth0.at("kind"), "L3");
  EXPECT_EQ(vm1.at("resource_set"), "default");
  EXPECT_EQ(vm1.at("ssh_port"), 60223);
  EXPECT_EQ(j.at("hosts").size(), 3u);
  EXPECT_EQ(j.at("hosts").at("vm2"), format_ipv4(p.remote[0].address.ip));
  EXPECT_FALSE(vms_json(p, {}).at("vms").at("0").contains("ssh_port"));
}

TEST(PrologPlan, JobStateRoundTripAndRejects) {
  JobState s;
  s.job_id = 4242;
  s.network_id = 7;
  s.nat = {{4242, 0, 60222, 0x0a806002, 22}, {4242, 1, 60223, 0x0a806003, 22}};
  const auto back = parse_job_state(to_json(s).dump(), "x");
  EXPECT_EQ(back.job_id, 4242u);
  EXPECT_EQ(back.network_id, 7u);
  ASSERT_EQ(back.nat.size(), 2u);
  EXPECT_EQ(back.nat[1].host_port, 60223);
  EXPECT_EQ(back.nat[1].vm_ip, 0x0a806003u);
  EXPECT_EQ(nat_table_batch(back.nat, 1), nat_table_batch(s.nat, 1));
  EXPECT_FALSE(back.outbound);
  EXPECT_FALSE(back.owner);
  s.outbound = OutboundRule{4242, Ipv4Cidr::parse("10.128.96.0/20"), {{Ipv4Cidr::parse("192.0.2.0/24"), "tcp", 80, 443}},
                            true, {Ipv4Cidr::parse("10.0.0.0/8")}};
  s.owner = 1000;
  const auto again = parse_job_state(to_json(s).dump(), "x");
  ASSERT_TRUE(again.outbound);
  EXPECT_EQ(again.outbound->subnet.to_string(), "10.128.96.0/20");
  EXPECT_TRUE(again.outbound->anywhere);
  ASSERT_EQ(again.outbound->allow.size(), 1u);
  EXPECT_EQ(again.outbound->allow[0].proto, "tcp");
  EXPECT_EQ(again.outbound->allow[0].max_port, 443);
  ASSERT_EQ(again.outbound->deny.size(), 1u);
  EXPECT_EQ(again.owner, 1000u);
  NodeTable a, b;
  a.outbound = {*s.outbound};
  b.outbound = {*again.outbound};
  a.vm_jobs = b.vm_jobs = 1;
  EXPECT_EQ(nat_table_batch(a), nat_table_batch(b));
  EXPECT_FALSE(again.dns);
  s.dns = DnsUpstream{4242, 0x0a806ffe, 0x0a630035};
  const auto with_dns = parse_job_state(to_json(s).dump(), "x");
  ASSERT_TRUE(with_dns.dns);
  EXPECT_EQ(with_dns.dns->job_id, 4242u);
  EXPECT_EQ(format_ipv4(with_dns.dns->server), "10.128.111.254");
  EXPECT_EQ(format_ipv4(with_dns.dns->upstream), "10.99.0.53");
  auto bad_dns = to_json(s);
  bad_dns["dns"]["upstream"] = "10.99.0.53; accept";
  EXPECT_THROW(parse_job_state(bad_dns.dump(), "x"), Error);
  s.bridged = {{4242, 1, "svm1092.2001", parse_mac("42:00:00:10:92:01")}};
  const auto with_bridged = parse_job_state(to_json(s).dump(), "x");
  ASSERT_EQ(with_bridged.bridged.size(), 1u);
  EXPECT_EQ(with_bridged.bridged[0].tap, "svm1092.2001");
  EXPECT_EQ(with_bridged.bridged[0].job_id, 4242u);
  EXPECT_EQ(format_mac(with_bridged.bridged[0].mac), "42:00:00:10:92:01");
  auto bad_tap = to_json(s);
  bad_tap["bridged"][0]["tap"] = "x\" drop; accept";  // would become nft text
  EXPECT_THROW(parse_job_state(bad_tap.dump(), "x"), Error);
  // A record of the previous format (outbound: the subnet) still parses: the job keeps its way out.
  const auto old_format = parse_job_state(
      R"({"job_id":7,"network_id":8,"nat":[],"outbound":"10.128.96.0/20"})", "x");
  ASSERT_TRUE(old_format.outbound);
  EXPECT_TRUE(old_format.outbound->anywhere);
  EXPECT_EQ(old_format.outbound->subnet.to_string(), "10.128.96.0/20");
  // A proto nft would read as something else is refused.
  auto bad = to_json(s);
  bad["outbound"]["allow"][0]["proto"] = "gre";
  EXPECT_THROW(parse_job_state(bad.dump(), "x"), Error);
  EXPECT_THROW(parse_job_state("{}", "x"), Error);
  EXPECT_THROW(parse_job_state(R"({"job_id":1,"network_id":1,"nat":[{"rank":0,"host_port":70000,"vm_ip":"10.0.0.1","vm_port":22}]})", "x"), Error);
}

TEST(PrologPaths, OverridesMustBeAbsolute) {
  const auto p = node_paths_from_env(lookup({{"SLURM_VM_RUNDIR", "/tmp/x"},
                                             {"SLURM_VM_OVSDB_SOCKET", "/tmp/ovs/db.sock"}}));
  EXPECT_EQ(p.run_dir, "/tmp/x");
  EXPECT_EQ(p.ledger_dir(), "/tmp/x/ledger");
  EXPECT_EQ(p.job_dir(5), "/tmp/x/jobs/5");
  EXPECT_EQ(p.openflow().socket, "/tmp/ovs/br-int.mgmt");
  EXPECT_EQ(node_paths_from_env(lookup({})).run_dir, "/run/slurm-vm");
  EXPECT_THROW(node_paths_from_env(lookup({{"SLURM_VM_RUNDIR", "run"}})), Error);
  EXPECT_THROW(node_paths_from_env(lookup({{"SLURM_VM_RUNDIR", "/run/../etc"}})), Error);
}

// A restore (vm alloc -r) asks for the checkpointed cluster's network identity: its VMs get the
// MACs and addresses they had. The value is the user's: anything but a number in the site's
// range is the job's fault, never the node's.
TEST(PrologPlan, RestoredNetworkIdentity) {
  const auto plan = AddressPlan::default_plan();
  auto env = good_env();
  const auto fresh = plan_l3(parse_job_inputs(lookup(env)), plan);
  env["SPANK_VM_NETWORK_ID"] = "7";
  const auto restored = plan_l3(parse_job_inputs(lookup(env)), plan);
  EXPECT_NE(fresh.network_id, 7u);
  EXPECT_EQ(restored.network_id, 7u);
  EXPECT_EQ(restored.all.at(1).address.mac, plan.vm(7, 1).mac);
  EXPECT_EQ(restored.all.at(1).address.ip, plan.vm(7, 1).ip);
  EXPECT_EQ(restored.subnet.to_string(), plan.job_subnet(7).to_string());

  for (const char* bad : {"-1", "0x10", "7 ", "99999999999", "abc"}) {
    env["SPANK_VM_NETWORK_ID"] = bad;
    const auto [message, jobs_fault] = input_error(env);
    EXPECT_TRUE(jobs_fault) << bad << ": " << message;
  }
  for (const char* outside : {"0", "60000"}) {
    env["SPANK_VM_NETWORK_ID"] = outside;
    try {
      plan_l3(parse_job_inputs(lookup(env)), plan);
      ADD_FAILURE() << outside;
    } catch (const JobError& e) {
      EXPECT_NE(std::string(e.what()).find("outside this site's network ids"), std::string::npos) << e.what();
    }
  }
  env["SPANK_VM_NETWORK_ID"] = "";
  EXPECT_EQ(plan_l3(parse_job_inputs(lookup(env)), plan).network_id, fresh.network_id);
}
