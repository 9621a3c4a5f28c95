// Every change vm-prolog makes to a node, one type each (the numbered steps of
// docs/prolog-epilog.md §2): its fields, its ledger record and its undo, side by side. The
// prolog records a change (record()) before making it; the rollback, the epilog and the reclaim
// of a dead job read each record back into its type (parse_change) and undo it (undo_change).
// A field renamed on one side cannot fail on the other at undo time on a real node: both sides
// are the same type, and tests/unit/host_changes_test.cpp round-trips every one.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "netsetup/ledger.hpp"

namespace slurmvm::netsetup {

struct NodePaths;
class NodeEffects;

namespace change {

// Node level (step 11): recorded so that the ledger tells the whole story, kept by the epilog.
struct NodeBridge {
  static constexpr std::string_view op = "node.bridge";
  std::string bridge;
  std::string datapath;
};
struct NodeTunnel {
  static constexpr std::string_view op = "node.tunnel";
  std::string bridge;
  std::string port;
};
struct NodeBaseFlows {
  static constexpr std::string_view op = "node.base_flows";
  std::string bridge;
};

// Step 12: IPv4 forwarding turned on; undone by the last job that needs it (reference rule).
struct IpForward {
  static constexpr std::string_view op = "node.ip_forward";
  std::uint32_t job = 0;
};
// Step 13: a TAP owned by the job's user; undo deletes it.
struct TapCreate {
  static constexpr std::string_view op = "tap.create";
  std::uint32_t job = 0;
  std::string name;
  std::uint32_t owner = 0;
};
// Step 13: a bridged NIC's TAP on its host bridge; undo takes it off.
struct TapBridge {
  static constexpr std::string_view op = "tap.bridge";
  std::uint32_t job = 0;
  std::string name;
  std::string bridge;
};
// Step 19 (the ledger's last entry): the job's interface group, its TAPs and DHCP veth; undo
// deletes all its devices at once.
struct TapsGroup {
  static constexpr std::string_view op = "taps.group";
  std::uint32_t job = 0;
  std::uint32_t group = 0;
};
// Step 13b: the job's jailed dnsmasq and its veth; undo stops it and deletes the veth.
struct DhcpJail {
  static constexpr std::string_view op = "dhcp.jail";
  std::uint32_t job = 0;
  std::string pid_file;
  std::string log_file;
  std::string port;
};
// Ledgers written before the jail: a daemonized dnsmasq in the node's namespaces.
struct DhcpStart {
  static constexpr std::string_view op = "dhcp.start";
  std::uint32_t job = 0;
  std::string pid_file;
};
// Step 14: the job's ports on the integration bridge; undo removes them.
struct OvsPorts {
  static constexpr std::string_view op = "ovs.ports";
  std::uint32_t job = 0;
  std::string bridge;
  std::vector<std::string> names;
};
// Step 15: the gateway's address ("a.b.c.d/prefix"); undo clears it.
struct GatewayAddress {
  static constexpr std::string_view op = "gateway.address";
  std::uint32_t job = 0;
  std::string name;
  std::string address;
};
// Step 16: the job's flows under its cookie; undo deletes the cookie's flows. `bridge` is empty
// in records older than slurm-vm.yaml's ovs.bridge (the default bridge then).
struct JobFlows {
  static constexpr std::string_view op = "flows.job";
  std::uint32_t job = 0;
  std::string bridge;
};
// Step 13c, infiniband networks: this node joined the job's partition key on `network` in the
// pkey store (the job's first node to join allocated it): the file store at `store`, or etcd at
// `etcd` under `etcd_prefix` (both written only for an etcd store), with TLS files `etcd_ca`,
// `etcd_cert`, `etcd_key` (written only when set). Undo leaves; the key is released when the
// job's last node has left (pkey_store.hpp).
struct PkeyJoin {
  static constexpr std::string_view op = "ib.pkey";
  std::uint32_t job = 0;
  std::string network;
  std::string node;
  std::string store;
  std::vector<std::string> etcd;
  std::string etcd_prefix;
  std::string etcd_ca;
  std::string etcd_cert;
  std::string etcd_key;
};
// Step 13c, InfiniBand VFs: the GUIDs and policy Follow given to VF `vf` of HCA `device` (its
// physical function `pf`), and the GUIDs it had ("0x" and 16 hex digits). Undo: policy Down,
// then the GUIDs it had.
struct VfGuids {
  static constexpr std::string_view op = "ib.vf_guids";
  std::uint32_t job = 0;
  std::string device;
  std::string pf;
  std::uint32_t vf = 0;
  std::string node_guid;
  std::string port_guid;
  std::string previous_node_guid;
  std::string previous_port_guid;
};
// Step 13c: a PCI function moved to vfio-pci for a VM. Undo gives it to `driver` (its driver
// before; genericpci: the network's host-driver; empty: left unbound).
struct PciVfio {
  static constexpr std::string_view op = "pci.vfio";
  std::uint32_t job = 0;
  std::string bdf;
  std::string driver;
};
// Step 13c: /dev/vfio/<group> given to the job's user. Undo gives it back to root.
struct VfioOwner {
  static constexpr std::string_view op = "vfio.owner";
  std::uint32_t job = 0;
  std::uint32_t group = 0;
  std::uint32_t owner = 0;
};
// Step 17: state/<id>.json and state/<id>.flows; undo removes them.
struct StateWrite {
  static constexpr std::string_view op = "state.write";
  std::uint32_t job = 0;
};
// Step 18: jobs/<id>/ and vms.json; undo removes the directory.
struct JobDirWrite {
  static constexpr std::string_view op = "jobdir.write";
  std::uint32_t job = 0;
};
// Steps 13 and 19: the nftables tables rebuilt with the job; undo rebuilds them without it.
struct NatSync {
  static constexpr std::string_view op = "nat.sync";
  std::uint32_t job = 0;
};

}  // namespace change

using HostChange =
    std::variant<change::NodeBridge, change::NodeTunnel, change::NodeBaseFlows, change::IpForward, change::TapCreate,
                 change::TapBridge, change::TapsGroup, change::DhcpJail, change::DhcpStart, change::OvsPorts,
                 change::GatewayAddress, change::JobFlows, change::StateWrite, change::JobDirWrite, change::NatSync,
                 change::PkeyJoin, change::VfGuids, change::PciVfio, change::VfioOwner>;

std::string_view op_of(const HostChange& change);
// The ledger record: {"op": <op>, <field>: <value>...}.
nlohmann::json to_record(const HostChange& change);
// The record read back. Throws Error(config) on an unknown op or a missing or mistyped field.
HostChange parse_change(const nlohmann::json& record);

// Ledger::record(to_record(change)): call before making the change.
void record(Ledger& ledger, const HostChange& change);

// The write-ahead rule in one place: records `change` (written and fsync'ed), then makes it
// (`make`, the effects the change stands for). If `make` throws, the record stays: the undo of
// a change that was never (or half) made succeeds all the same.
template <class Make>
void apply(Ledger& ledger, const HostChange& change, Make&& make) {
  record(ledger, change);
  std::forward<Make>(make)();
}

// Undoes one change of job `job_id` on this node through `effects` (node_effects.hpp; the real
// node or a recording fake). Idempotent: what is already gone is success. Throws Error when the
// undo failed.
void undo_change(const HostChange& change, NodeEffects& effects, const NodePaths& paths, std::uint32_t job_id);

// The undo handler of every op, for undo_ledger: parse the record, undo the change. `effects`
// must outlive the handlers.
UndoHandlers change_undo_handlers(NodeEffects& effects, const NodePaths& paths, std::uint32_t job_id);

}  // namespace slurmvm::netsetup
