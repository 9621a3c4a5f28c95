// The exact sequence of what vm-prolog records and does on a node for the reference jobs
// (reference_jobs.hpp), pinned in golden files: every ledger record (host_changes.hpp) must
// come before the effect it describes, and nothing may be added, dropped or reordered without
// the diff showing it. The effects go to a recording fake (node_effects.hpp); the ledger is a
// real one in a temporary directory. The same sequence runs against the real kernel and OVS in
// tests/root/prolog_node_test.sh.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "golden_file.hpp"
#include "netsetup/host_changes.hpp"
#include "netsetup/job_error.hpp"
#include "netsetup/job_changes.hpp"
#include "netsetup/prolog_apply.hpp"
#include "reference_jobs.hpp"
#include "temp_dir.hpp"
#include "vfio/ib_guid.hpp"

using namespace slurmvm;
using namespace slurmvm::netsetup;
using namespace slurmvm::test;
namespace fs = std::filesystem;

namespace {

// Appends "effect ..." lines, each preceded by the ledger lines recorded since the last effect.
class RecordingEffects final : public NodeEffects {
 public:
  explicit RecordingEffects(fs::path ledger_file) : ledger_file_(std::move(ledger_file)) {}

  std::string bridge_datapath(const std::string& bridge, config::OvsDatapath wanted) override {
    note(fmt::format("bridge_datapath {} {}", bridge, config::to_string(wanted)));
    return "netdev";
  }
  void ensure_bridge(const std::string& bridge, const std::string& datapath, std::chrono::milliseconds d) override {
    note(fmt::format("ensure_bridge {} {} deadline={}ms", bridge, datapath, d.count()));
  }
  void ensure_tunnel_port(const std::string& bridge, const std::string& port, std::chrono::milliseconds d) override {
    note(fmt::format("ensure_tunnel_port {} {} deadline={}ms", bridge, port, d.count()));
  }
  void add_ports(const std::string& bridge, const std::vector<PortSpec>& ports, const std::string& comment,
                 std::chrono::milliseconds d) override {
    std::vector<std::string> names;
    for (const auto& p : ports) names.push_back(p.type.empty() ? p.name : p.name + ":" + p.type);
    note(fmt::format("add_ports {} [{}] \"{}\" deadline={}ms", bridge, fmt::join(names, " "), comment, d.count()));
  }
  void apply_flows(const std::string& flows, std::chrono::milliseconds d) override {
    const auto lines = std::count(flows.begin(), flows.end(), '\n');
    note(fmt::format("apply_flows {} lines deadline={}ms", lines, d.count()));
  }
  void await_ports(std::chrono::milliseconds d) override { note(fmt::format("await_ports deadline={}ms", d.count())); }
  void wait_for_interface(const std::string& name, std::chrono::milliseconds d) override {
    note(fmt::format("wait_for_interface {} deadline={}ms", name, d.count()));
  }
  bool ip_forward_enabled() override {
    note("ip_forward_enabled");
    return false;
  }
  void save_ip_forward() override { note("save_ip_forward"); }
  void enable_ip_forward() override { note("enable_ip_forward"); }
  void sync_nat(std::uint32_t exclude, const std::vector<BridgedPort>& pending) override {
    std::vector<std::string> taps;
    for (const auto& b : pending) taps.push_back(b.tap);
    note(fmt::format("sync_nat{} pending=[{}]", exclude == 0 ? "" : fmt::format(" exclude={}", exclude),
                     fmt::join(taps, " ")));
  }
  void create_tap(const TapSpec& t) override {
    note(fmt::format("create_tap {} owner={} mtu={} group={:#x}", t.name, t.owner, t.mtu, t.link_group));
  }
  void attach_to_bridge(const std::string& tap, const std::string& bridge,
                        const std::vector<config::Vlan>& vlans) override {
    note(fmt::format("attach_to_bridge {} {} vlans={}", tap, bridge, vlans.size()));
  }
  void set_interface_ipv4(const std::string& name, std::uint32_t ip, unsigned prefix) override {
    note(fmt::format("set_interface_ipv4 {} {}/{}", name, format_ipv4(ip), prefix));
  }
  void start_dnsmasq(const DnsmasqConfig& cfg, const DnsmasqJail& jail) override {
    note(fmt::format("start_dnsmasq {} port={} mac={} address={}/{} gateway={} mtu={} group={:#x} pid_file={} "
                     "({} arguments)",
                     cfg.program, jail.port, format_mac(jail.mac), format_ipv4(jail.ip), jail.prefix,
                     format_ipv4(jail.gateway), jail.mtu, jail.link_group, jail.pid_file.string(),
                     dnsmasq_argv(cfg).size()));
    files_[jail.pid_file] = "1 1\n";
  }
  void await_dnsmasq(const DnsmasqJail& jail) override { note("await_dnsmasq " + jail.pid_file.string()); }
  // A node with HCA mlx5_0 (4 VFs, 0000:3b:00.1-4 on mlx5_core, IOMMU groups 41-44) and two
  // GPUs: slot 0000:af:00 (a GPU and its audio function, group 70) and 0000:b0:00.0 (group 71),
  // unbound. Changes are kept as "files" so that the undo must take every one of them back.
  std::vector<std::uint64_t> hca_port_guids(const std::string& hca) override {
    note("hca_port_guids " + hca);
    return {0x0002c90300a1b2c1};
  }
  std::uint16_t join_pkey(const vfio::PkeyStoreSpec& store, const std::string& network, vfio::PkeyRange range,
                          std::uint32_t job, const std::string& node,
                          const std::function<vfio::NodeMembers(std::uint16_t)>& members) override {
    if (join_failure_) std::rethrow_exception(join_failure_);
    const std::uint16_t pkey = range.min;
    const auto m = members(pkey);
    std::vector<std::string> host, vfs;
    for (auto g : m.host_guids) host.push_back(vfio::format_guid(g));
    for (auto g : m.vf_guids) vfs.push_back(vfio::format_guid(g));
    note(fmt::format("join_pkey {} {} {:#06x}-{:#06x} job {} node {} -> {:#06x} host [{}] vfs [{}]", store.path,
                     network, range.min, range.max, job, node, pkey, fmt::join(host, " "), fmt::join(vfs, " ")));
    files_[fmt::format("pkey:{}:{}:{}", network, job, node)] = "";
    return pkey;
  }
  std::string hca_function(const std::string& hca) override {
    if (hca != "mlx5_0") throw Error("no such HCA " + hca, ErrorKind::not_found);
    return "0000:3b:00.0";
  }
  std::vector<vfio::VfState> vfs_of(const std::string& pf) override {
    std::vector<vfio::VfState> out;
    if (pf != "0000:3b:00.0") throw Error("not a PF " + pf, ErrorKind::not_found);
    for (unsigned n = 0; n < 4; ++n) {
      const auto bdf = fmt::format("0000:3b:00.{}", n + 1);
      out.push_back({n, bdf, pci_function(bdf).driver});
    }
    return out;
  }
  vfio::PciFunction pci_function(const std::string& bdf) override {
    std::optional<std::string> driver;
    unsigned group = 0;
    if (bdf.starts_with("0000:3b:00.")) {
      driver = "mlx5_core";
      group = 40 + static_cast<unsigned>(bdf.back() - '0');
    } else if (bdf.starts_with("0000:af:00.") || bdf == "0000:b0:00.0") {
      group = bdf.starts_with("0000:af") ? 70 : 71;
    } else {
      throw Error("no PCI function " + bdf, ErrorKind::not_found);
    }
    if (files_.contains("vfio:" + bdf)) driver = "vfio-pci";
    return {bdf, 0x15b3, 0x101c, driver, group};
  }
  std::vector<std::string> slot_functions(const std::string& slot) override {
    if (slot != "0000:af:00") throw Error("no PCI device " + slot, ErrorKind::not_found);
    return {"0000:af:00.0", "0000:af:00.1"};
  }
  std::set<std::string> held_pci_functions(std::uint32_t) override { return held_; }
  vfio::VfGuids vf_guids(const std::string&, unsigned) override { return {0x1111, 0x2222}; }
  void assign_vf_guids(const std::string& pf, unsigned vf, vfio::VfGuids g) override {
    note(fmt::format("assign_vf_guids {} {} node {} port {}", pf, vf, vfio::format_guid(g.node),
                     vfio::format_guid(g.port)));
    files_[fmt::format("guids:{}:{}", pf, vf)] = "";
  }
  unsigned bind_vfio(const std::string& bdf, const std::vector<std::string>& together) override {
    note(fmt::format("bind_vfio {}{}", bdf, together.empty() ? "" : fmt::format(" with {}", fmt::join(together, ","))));
    files_["vfio:" + bdf] = "";
    return *pci_function(bdf).iommu_group;
  }
  void set_vfio_owner(unsigned group, uid_t uid, gid_t gid) override {
    note(fmt::format("set_vfio_owner {} {}:{}", group, uid, gid));
    if (uid == 0) {
      files_.erase(fmt::format("/dev/vfio/{}", group));
    } else {
      files_[fmt::format("/dev/vfio/{}", group)] = "";
    }
  }
  void leave_pkey(const vfio::PkeyStoreSpec& store, const std::string& network, std::uint32_t job,
                  const std::string& node) override {
    note(fmt::format("leave_pkey {}{} {} job {} node {}", store.path, fmt::join(store.etcd_endpoints, ","), network,
                     job, node));
    files_.erase(fmt::format("pkey:{}:{}:{}", network, job, node));
  }
  void release_vf_guids(const std::string& pf, unsigned vf, vfio::VfGuids previous) override {
    if (fail_release_guids_) throw Error("sysfs: Input/output error");
    note(fmt::format("release_vf_guids {} {} back to node {} port {}", pf, vf, vfio::format_guid(previous.node),
                     vfio::format_guid(previous.port)));
    files_.erase(fmt::format("guids:{}:{}", pf, vf));
  }
  void return_to_driver(const std::string& bdf, const std::optional<std::string>& driver) override {
    note(fmt::format("return_to_driver {} {}", bdf, driver.value_or("(none)")));
    files_.erase("vfio:" + bdf);
  }
  // What the node's other jobs' ledgers hold.
  void hold(std::set<std::string> held) { held_ = std::move(held); }
  void fail_release_guids() { fail_release_guids_ = true; }
  void fail_join(std::exception_ptr e) { join_failure_ = std::move(e); }

  void make_private_dir(const fs::path& dir, unsigned mode) override {
    note(fmt::format("make_private_dir {} {:o}", dir.string(), mode));
  }
  void write_file(const fs::path& file, const std::string& content, unsigned mode, FileOwner owner) override {
    note(fmt::format("write_file {} {:o} {}:{} {} bytes", file.string(), mode, owner.uid, owner.gid, content.size()));
    files_[file] = content;
  }

  bool release_ip_forward(std::uint32_t job) override {
    note(fmt::format("release_ip_forward {}", job));
    return false;  // another job of the node still needs forwarding
  }
  void delete_tap(const std::string& name) override { note("delete_tap " + name); }
  void detach_from_bridge(const std::string& tap) override { note("detach_from_bridge " + tap); }
  void delete_link_group(std::uint32_t group) override { note(fmt::format("delete_link_group {:#x}", group)); }
  void delete_link(const std::string& name) override { note("delete_link " + name); }
  void stop_dnsmasq(const fs::path& pid_file, const fs::path& log_file) override {
    note(fmt::format("stop_dnsmasq {} {}", pid_file.string(), log_file.string()));
    files_.erase(pid_file);
  }
  void stop_legacy_dnsmasq(const fs::path& pid_file) override { note("stop_legacy_dnsmasq " + pid_file.string()); }
  void remove_ports(const std::string& bridge, const std::vector<std::string>& names, const std::string& comment,
                    std::chrono::milliseconds d) override {
    note(fmt::format("remove_ports {} [{}] \"{}\" deadline={}ms", bridge, fmt::join(names, " "), comment, d.count()));
  }
  void clear_interface_ipv4(const std::string& name) override { note("clear_interface_ipv4 " + name); }
  void delete_job_flows(const std::string& bridge, std::uint32_t job) override {
    note(fmt::format("delete_job_flows {} {}", bridge, job));
  }
  void remove_file(const fs::path& file) override {
    note("remove_file " + file.string());
    files_.erase(file);
  }
  void remove_tree(const fs::path& dir) override {
    note("remove_tree " + dir.string());
    std::erase_if(files_, [&](const auto& f) { return f.first.parent_path() == dir; });
  }
  // Reads are not effects: answered from the files written so far, not noted.
  bool exists(const fs::path& file) override { return files_.contains(file); }
  std::vector<JobState> job_states(std::uint32_t exclude) override {
    std::vector<JobState> out;
    for (const auto& [file, content] : files_) {
      if (file.parent_path() == NodePaths{}.state_dir() && file.extension() == ".json") {
        auto state = parse_job_state(content, file.string());
        if (state.job_id != exclude) out.push_back(std::move(state));
      }
    }
    return out;
  }
  std::optional<JobState> job_state(std::uint32_t job) override {
    const auto it = files_.find(NodePaths{}.state_file(job));
    if (it == files_.end()) return std::nullopt;
    return parse_job_state(it->second, it->first.string());
  }

  // Notes the ledger record being undone (the undo reads the ledger; it writes nothing to it).
  void undoing(const nlohmann::json& record) { out_ += "undo " + record.dump() + "\n"; }
  // What the fake node still holds.
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    for (const auto& f : files_) out.push_back(f.first.string());
    return out;
  }

  std::string file(const fs::path& path) const {
    const auto it = files_.find(path);
    return it == files_.end() ? std::string() : it->second;
  }

  // Forgets the text so far (the files stay).
  void clear() { out_.clear(); }

  // Everything so far, with the ledger's trailing records.
  std::string text() {
    flush_ledger();
    return out_;
  }

 private:
  void flush_ledger() {
    std::ifstream in(ledger_file_);
    std::string line;
    std::size_t n = 0;
    while (std::getline(in, line)) {
      if (n++ >= seen_) out_ += "record " + line + "\n";
    }
    seen_ = n;
  }
  void note(const std::string& effect) {
    flush_ledger();
    out_ += "effect " + effect + "\n";
  }

  fs::path ledger_file_;
  std::size_t seen_ = 0;
  std::string out_;
  std::map<fs::path, std::string> files_;  // the node's files, as the effects wrote them
  std::set<std::string> held_;
  bool fail_release_guids_ = false;
  std::exception_ptr join_failure_;
};


struct Sequences {
  std::string prolog;               // records and effects of steps 11-19
  std::string undo;                 // the epilog's undo of that ledger, record by record
  std::vector<std::string> left;    // files still on the fake node after the undo
  std::string vms_json;             // what the prolog wrote for vm-launch
};

// Steps 11-19 of `plan` as vm-prolog runs them, with the record steps 8-9 built; then the undo
// of the ledger they wrote, as vm-epilog runs it.
Sequences sequences_of(const JobInputs& in, const NodePlan& plan, const std::vector<std::uint16_t>& ports,
                       const std::set<std::string>& held = {}) {
  TempDir tmp;
  NodePaths paths;  // the defaults: /run/slurm-vm, br-int, svm-gre (nothing is touched)
  JobState state;
  state.job_id = in.job_id;
  state.network_id = plan.network_id;
  state.owner = in.uid;
  for (const auto& vm : plan.local) {
    for (const auto& nic : vm.nics) {
      if (plan.nets.networks.at(nic.network).kind == NetKind::bridged) {
        state.bridged.push_back({in.job_id, vm.rank, nic.tap, nic.mac, false});
      }
    }
  }
  if (!ports.empty()) state.nat = job_nat_rules(plan, ports, 22);
  RecordingEffects fx(ledger_path(tmp.path(), in.job_id));
  fx.hold(held);
  Sequences out;
  {
    auto ledger = Ledger::open(tmp.path(), in.job_id);
    apply_prolog_changes(ledger, fx,
                         {paths, in, plan, config::OvsDatapath::auto_detect, 1000, kNodeIps, state, ports,
                          vfio::PkeyStoreSpec{"/var/lib/slurm-vm/store", {}, {}, {}}});
    out.prolog = fx.text();
    out.vms_json = fx.file(paths.vms_file(in.job_id));
  }
  fx.clear();
  UndoHandlers handlers = change_undo_handlers(fx, paths, in.job_id);
  for (auto& [op, handler] : handlers) {
    handler = [&fx, undo = handler](const nlohmann::json& record) {
      fx.undoing(record);
      undo(record);
    };
  }
  const auto report = undo_ledger(tmp.path(), in.job_id, handlers);
  EXPECT_TRUE(report.ok() && report.removed);
  out.undo = fx.text();
  out.left = fx.files();
  return out;
}

std::string sequence_of(const JobInputs& in, const NodePlan& plan, const std::vector<std::uint16_t>& ports) {
  return sequences_of(in, plan, ports).prolog;
}

}  // namespace

TEST(PrologApply, ReferenceJobSequence) {
  const auto in = job_on_node_a("4242", std::nullopt);
  const auto seq = sequences_of(in, plan_for(in), {60222, 60223});
  expect_golden("job-4242-nodeA/prolog-sequence.txt", seq.prolog);
  expect_golden("job-4242-nodeA/epilog-sequence.txt", seq.undo);
  EXPECT_TRUE(seq.left.empty()) << fmt::format("left behind: {}", fmt::join(seq.left, " "));
}

TEST(PrologApply, SeveralNetworksSequence) {
  const auto in = job_on_node_a("4243", "cluster,cluster-lan");
  const auto seq = sequences_of(in, plan_for(in), {60225, 60226});
  expect_golden("job-4243-nodeA-networks/prolog-sequence.txt", seq.prolog);
  expect_golden("job-4243-nodeA-networks/epilog-sequence.txt", seq.undo);
  EXPECT_TRUE(seq.left.empty()) << fmt::format("left behind: {}", fmt::join(seq.left, " "));
}

// Passthrough devices (step 13c): the job's pkey joined first, then per device its GUIDs (VFs),
// vfio-pci and its group's owner; vms.json names them per VM; the undo gives all of it back.
TEST(PrologApply, PassthroughDevicesSequence) {
  const auto in = job_on_node_a("4244", "cluster-ib,cluster-hostib");
  const auto seq = sequences_of(in, plan_for(in), {60227, 60228});
  expect_golden("job-4244-nodeA-devices/prolog-sequence.txt", seq.prolog);
  expect_golden("job-4244-nodeA-devices/epilog-sequence.txt", seq.undo);
  expect_golden("job-4244-nodeA-devices/vms.json", seq.vms_json);
  // What vm-launch reads back: each VM's devices, in its resource set's order.
  const auto vms = parse_vms_file(seq.vms_json, "vms.json");
  ASSERT_EQ(vms.vms.at(0).pci.size(), 3u);
  EXPECT_EQ(vms.vms.at(0).pci[0].network, "ib");
  EXPECT_EQ(vms.vms.at(0).pci[1].bdf, "0000:af:00.0");
  EXPECT_EQ(vms.vms.at(0).pci[2].bdf, "0000:af:00.1");
  ASSERT_EQ(vms.vms.at(1).pci.size(), 1u);
  EXPECT_EQ(vms.vms.at(1).pci[0].network, "hostib");
  EXPECT_EQ(vms.vms.at(1).pci[0].bdf, "0000:3b:00.2");
  EXPECT_TRUE(seq.left.empty()) << fmt::format("left behind: {}", fmt::join(seq.left, " "));
}

// Functions other jobs' ledgers hold are never chosen: the next free VF, the next free GPU;
// none left is the job's fault, naming the network and the node, before anything changed.
TEST(PrologApply, DevicesOtherJobsHoldAreSkipped) {
  const auto in = job_on_node_a("4244", "cluster-ib,cluster-hostib");
  const auto seq = sequences_of(in, plan_for(in), {60227, 60228}, {"0000:3b:00.1", "0000:af:00.1"});
  EXPECT_NE(seq.prolog.find("bind_vfio 0000:3b:00.2\n"), std::string::npos) << seq.prolog;
  EXPECT_NE(seq.prolog.find("bind_vfio 0000:b0:00.0\n"), std::string::npos) << seq.prolog;
  EXPECT_EQ(seq.prolog.find("0000:af:00"), std::string::npos) << seq.prolog;

  TempDir tmp;
  RecordingEffects fx(ledger_path(tmp.path(), in.job_id));
  fx.hold({"0000:3b:00.1", "0000:3b:00.2", "0000:3b:00.3"});  // one VF left, two VMs want one
  const auto plan = plan_for(in);
  auto ledger = Ledger::open(tmp.path(), in.job_id);
  try {
    apply_prolog_changes(ledger, fx, {NodePaths{}, in, plan, config::OvsDatapath::auto_detect, 1000, kNodeIps,
                                      JobState{}, {}, vfio::PkeyStoreSpec{"/var/lib/slurm-vm/store", {}, {}, {}}});
    FAIL() << "a job was given VFs the node does not have";
  } catch (const JobError& e) {
    EXPECT_NE(std::string(e.what()).find("network hostib: nodeA: mlx5_0 has 0 free SR-IOV virtual functions of 4"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(fx.text().find("record"), std::string::npos) << "a record before the devices were chosen";
}

// A VF whose GUIDs could not be given back may still carry one derived from the job's pkey: the
// pkey is not left (the next job would get it), the ledger is kept for a later run.
TEST(PrologApply, APkeyIsNotLeftWhileAVfMayKeepItsGuid) {
  const auto in = job_on_node_a("4244", "cluster-ib,cluster-hostib");
  const auto plan = plan_for(in);
  TempDir tmp;
  RecordingEffects fx(ledger_path(tmp.path(), in.job_id));
  {
    auto ledger = Ledger::open(tmp.path(), in.job_id);
    apply_prolog_changes(ledger, fx, {NodePaths{}, in, plan, config::OvsDatapath::auto_detect, 1000, kNodeIps,
                                      JobState{}, {60227, 60228}, vfio::PkeyStoreSpec{"/var/lib/slurm-vm/store", {}, {}, {}}});
  }
  fx.clear();
  fx.fail_release_guids();
  const auto report = undo_ledger(tmp.path(), in.job_id, change_undo_handlers(fx, NodePaths{}, in.job_id));
  EXPECT_FALSE(report.removed);
  std::vector<std::string> failed;
  for (const auto& f : report.failures) failed.push_back(f.op);
  EXPECT_EQ(failed, (std::vector<std::string>{"ib.vf_guids", "ib.vf_guids", "ib.pkey"}));
  EXPECT_EQ(fx.text().find("leave_pkey"), std::string::npos) << fx.text();
  EXPECT_NE(fx.text().find("return_to_driver 0000:3b:00.1"), std::string::npos);  // the rest is undone
}

// Every pkey held is the job's to wait for (JobError: the node stays up); any other failure of
// the store (unreachable, refused, a TLS file that does not load: kind config too) is the
// node's, and drains it.
TEST(PrologApply, OnlyPkeyExhaustionIsTheJobsFault) {
  const auto in = job_on_node_a("4244", "cluster-ib,cluster-hostib");
  const auto plan = plan_for(in);
  const auto run = [&](std::exception_ptr failure) {
    TempDir tmp;
    RecordingEffects fx(ledger_path(tmp.path(), in.job_id));
    fx.fail_join(std::move(failure));
    auto ledger = Ledger::open(tmp.path(), in.job_id);
    apply_prolog_changes(ledger, fx, {NodePaths{}, in, plan, config::OvsDatapath::auto_detect, 1000, kNodeIps,
                                      JobState{}, {60227, 60228}, vfio::PkeyStoreSpec{"/var/lib/slurm-vm/store", {}, {}, {}}});
  };
  EXPECT_THROW(run(std::make_exception_ptr(vfio::PkeysExhausted("every partition key held", ErrorKind::config))),
               JobError);
  try {
    run(std::make_exception_ptr(Error("slurm-vm.yaml store.etcd: ca-cert /etc/x.pem: No such file", ErrorKind::config)));
    ADD_FAILURE() << "no error";
  } catch (const JobError& e) {
    ADD_FAILURE() << "the node's failure taken for the job's: " << e.what();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ca-cert"), std::string::npos) << e.what();
  }
}

// The undo acts on sysfs paths and the store from root's own ledger; still, a record whose
// address, driver, PF, GUID or store is not what the prolog writes is refused before any effect.
TEST(PrologApply, OddDeviceRecordsAreRefusedBeforeAnyEffect) {
  TempDir tmp;
  RecordingEffects fx(ledger_path(tmp.path(), 1));
  const NodePaths paths;
  for (const char* text : {
           R"({"op":"pci.vfio","job":1,"bdf":"../../../etc","driver":""})",
           R"({"op":"pci.vfio","job":1,"bdf":"0000:3b:00.1","driver":"../x"})",
           R"({"op":"ib.vf_guids","job":1,"device":"mlx5_0","pf":"0000:3b:00.0/../..","vf":0,"node_guid":"0x1",)"
           R"("port_guid":"0x1","previous_node_guid":"0x0","previous_port_guid":"0x0"})",
           R"({"op":"ib.vf_guids","job":1,"device":"mlx5_0","pf":"0000:3b:00.0","vf":0,"node_guid":"0x1",)"
           R"("port_guid":"0x1","previous_node_guid":"zz","previous_port_guid":"0x0"})",
           R"({"op":"ib.pkey","job":1,"network":"ib","node":"n","store":"relative/store"})",
           R"({"op":"ib.pkey","job":1,"network":"../ib","node":"n","store":"/store"})",
           R"({"op":"ib.pkey","job":1,"network":"ib","node":"n","store":"","etcd":["https://e:2379"],)"
           R"("etcd_prefix":"/p/","etcd_ca":"ca.pem"})",
       }) {
    EXPECT_THROW(undo_change(parse_change(nlohmann::json::parse(text)), fx, paths, 1), Error) << text;
  }
  EXPECT_EQ(fx.text(), "");
}

// The undo handles every change the prolog records, in reverse: each record of the prolog's
// sequence appears in the undo's, last first.
TEST(PrologApply, UndoReplaysEveryRecordInReverse) {
  for (const auto& [job, sets] : {std::pair<const char*, const char*>{"4243", "cluster,cluster-lan"},
                                  {"4244", "cluster-ib,cluster-hostib"}}) {
  const auto in = job_on_node_a(job, sets);
  const auto seq = sequences_of(in, plan_for(in), {60225, 60226});
  std::vector<std::string> recorded, undone;
  std::istringstream p(seq.prolog), u(seq.undo);
  for (std::string line; std::getline(p, line);) {
    if (line.rfind("record ", 0) == 0) recorded.push_back(line.substr(7));
  }
  for (std::string line; std::getline(u, line);) {
    if (line.rfind("undo ", 0) == 0) undone.push_back(line.substr(5));
  }
  std::reverse(undone.begin(), undone.end());
  EXPECT_EQ(recorded, undone) << "job " << job;
  }
}

// Whatever the job, every effect that changes the node comes after a record (the write-ahead
// rule), and the first line is a record.
TEST(PrologApply, EveryChangeIsRecordedFirst) {
  const auto in = job_on_node_a("4243", "cluster,cluster-lan");
  const std::string text = sequence_of(in, plan_for(in), {60225, 60226});
  std::istringstream lines(text);
  std::string line;
  bool recorded = false;
  while (std::getline(lines, line)) {
    if (line.rfind("record ", 0) == 0) {
      recorded = true;
    } else if (line.rfind("effect bridge_datapath", 0) != 0 && line.rfind("effect ip_forward_enabled", 0) != 0) {
      EXPECT_TRUE(recorded) << "a change before any record: " << line;
    }
  }
}

// Each change to a device or the pkey store comes right after its own record: one record, one
// change (a missing record would otherwise hide behind an earlier one).
TEST(PrologApply, EveryDeviceChangeRightAfterItsRecord) {
  const auto in = job_on_node_a("4244", "cluster-ib,cluster-hostib");
  std::istringstream lines(sequence_of(in, plan_for(in), {60225, 60226}));
  std::string line, previous;
  int changes = 0;
  while (std::getline(lines, line)) {
    for (const char* effect : {"effect join_pkey ", "effect assign_vf_guids ", "effect bind_vfio ",
                               "effect set_vfio_owner "}) {
      if (line.rfind(effect, 0) == 0) {
        ++changes;
        EXPECT_EQ(previous.rfind("record ", 0), 0u) << line << " follows " << previous;
      }
    }
    previous = line;
  }
  EXPECT_EQ(changes, 10);  // 1 pkey, 2 VFs' GUIDs, 4 functions, 3 groups
}
