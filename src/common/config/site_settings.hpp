// Site settings of slurm-vm.yaml (system only): where cluster state is kept, and the arguments
// every allocation gets (pcocc's batch.yaml `batch-args`). Every key is optional:
//   store:
//     type: file                       # or etcd
//     path: /var/lib/slurm-vm/store    # file store: a directory shared by every node
//     etcd:                            # etcd store only
//       endpoints: [https://etcd1:2379, https://etcd2:2379]
//       prefix: /slurm-vm
//       ca-cert: /etc/slurm-vm/etcd-ca.pem
//       client-cert: /etc/slurm-vm/etcd-client.pem
//       client-key: /etc/slurm-vm/etcd-client-key.pem
//   batch-args: ["--partition=vm"]     # added to every salloc/sbatch, before the user's own
//   ovs:                               # the nodes' Open vSwitch (vm-prolog)
//     bridge: br-int                   # integration bridge; created when missing
//     datapath: auto                   # system (kernel), netdev (userspace), auto
//     max-ports-per-node: 1024         # a job's VMs x NICs on one node; more is the job's fault
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/yaml_reader.hpp"

namespace slurmvm::config {

enum class StoreType { file, etcd };
std::string_view to_string(StoreType type) noexcept;

struct EtcdSettings {
  std::vector<std::string> endpoints;  // http(s)://host[:port]
  std::string prefix = "/slurm-vm";    // every key lives under it
  // TLS: client certificates are how etcd tells nodes apart; no password is kept anywhere.
  std::optional<std::string> ca_cert;
  std::optional<std::string> client_cert;
  std::optional<std::string> client_key;
};

struct StoreSettings {
  StoreType type = StoreType::file;
  std::string path = "/var/lib/slurm-vm/store";  // file store only
  EtcdSettings etcd;                             // etcd store only
};

// The OVS datapath of the integration bridge. auto: an existing bridge's, else system when the
// kernel module is loaded, else netdev.
enum class OvsDatapath { auto_detect, system, netdev };
std::string_view to_string(OvsDatapath datapath) noexcept;

struct OvsSettings {
  std::string bridge = "br-int";  // an interface name: 1-15 of [A-Za-z0-9_.-], no leading - or .
  OvsDatapath datapath = OvsDatapath::auto_detect;
  // A job that would put more OVS ports (TAPs of tunnelled NICs) on one node is refused as the
  // job's fault instead of overrunning the prolog's deadlines and draining the node.
  int max_ports_per_node = 1024;
};

struct SiteSettings {
  StoreSettings store;
  std::vector<std::string> batch_args;
  // Where each VM's copy-on-write overlay is made on its node (a node-local disk, e.g.
  // /local/scratch/%{user}; substitutions expanded for the job's user); unset: the VM's directory
  // in the user's job directory. The overlay is unlinked once QEMU holds it: nothing of it
  // outlives the VM, whatever ends it.
  std::optional<std::string> node_scratch;
  OvsSettings ovs;
};

// Reads the root value of slurm-vm.yaml (empty: all defaults). Throws Error(ErrorKind::config).
SiteSettings parse_site_settings(const Value& root);

}  // namespace slurmvm::config
