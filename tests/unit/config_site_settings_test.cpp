// slurm-vm.yaml: the state store and batch arguments.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/site_settings.hpp"
#include "error.hpp"

using slurmvm::Error;
using namespace slurmvm::config;

namespace {

SiteSettings site(std::string_view text) {
  return parse_site_settings(parse_yaml(text, "slurm-vm.yaml"));
}

std::string error_of(std::string_view text) {
  try {
    site(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(ConfigSiteSettings, Defaults) {
  const SiteSettings s = site("");
  EXPECT_EQ(s.store.type, StoreType::file);
  EXPECT_EQ(s.store.path, "/var/lib/slurm-vm/store");
  EXPECT_TRUE(s.batch_args.empty());
  EXPECT_EQ(to_string(s.store.type), "file");
}

TEST(ConfigSiteSettings, NodeScratchIsKeptUnexpanded) {
  EXPECT_FALSE(site("").node_scratch);
  EXPECT_EQ(site("node-scratch: /local/scratch/%{user}\n").node_scratch, "/local/scratch/%{user}");
  EXPECT_THAT(error_of("node-scratch: /x/%{nosuch}\n"), testing::HasSubstr("unknown substitution"));
}

TEST(ConfigSiteSettings, FileAndEtcdStores) {
  const SiteSettings f =
      site("store: {type: file, path: /shared/vm}\nbatch-args: [--partition=vm, -A, proj]\n");
  EXPECT_EQ(f.store.path, "/shared/vm");
  EXPECT_EQ(f.batch_args, (std::vector<std::string>{"--partition=vm", "-A", "proj"}));

  const SiteSettings e = site(
      "store:\n"
      "  type: etcd\n"
      "  etcd:\n"
      "    endpoints: [https://etcd1:2379, http://10.0.0.2:2379/]\n"
      "    ca-cert: /etc/slurm-vm/ca.pem\n"
      "    client-cert: /etc/slurm-vm/c.pem\n"
      "    client-key: /etc/slurm-vm/k.pem\n");
  EXPECT_EQ(e.store.type, StoreType::etcd);
  EXPECT_EQ(e.store.etcd.endpoints.size(), 2u);
  EXPECT_EQ(e.store.etcd.prefix, "/slurm-vm");
  EXPECT_EQ(e.store.etcd.client_key, "/etc/slurm-vm/k.pem");
}

TEST(ConfigSiteSettings, Errors) {
  EXPECT_EQ(error_of("store: {type: redis}"),
            "slurm-vm.yaml:1: store.type: expected one of file or etcd, got \"redis\"");
  EXPECT_EQ(error_of("store: {type: etcd}"),
            "slurm-vm.yaml:1: store: missing required key \"etcd\" (for `type: etcd`)");
  EXPECT_EQ(error_of("store: {etcd: {endpoints: [http://e:2379]}}"),
            "slurm-vm.yaml:1: store.etcd: etcd settings need `type: etcd`");
  EXPECT_EQ(error_of("store: {type: etcd, path: /x, etcd: {endpoints: [http://e]}}"),
            "slurm-vm.yaml:1: store.path: path is for `type: file`");
  EXPECT_EQ(error_of("store: {path: relative}"),
            "slurm-vm.yaml:1: store.path: expected an absolute path, got \"relative\"");
  EXPECT_EQ(error_of("store: {type: etcd, etcd: {endpoints: [etcd1:2379]}}"),
            "slurm-vm.yaml:1: store.etcd.endpoints[0]: expected an http:// or https:// URL, got "
            "\"etcd1:2379\"");
  EXPECT_EQ(error_of("store: {type: etcd, etcd: {endpoints: [http://e/v2/keys]}}"),
            "slurm-vm.yaml:1: store.etcd.endpoints[0]: expected an http(s)://host[:port] URL, got "
            "\"http://e/v2/keys\"");
  EXPECT_EQ(error_of("store: {type: etcd, etcd: {endpoints: []}}"),
            "slurm-vm.yaml:1: store.etcd.endpoints: expected a non-empty list of URLs, got a list");
  EXPECT_EQ(error_of("store: {type: etcd, etcd: {endpoints: [http://e], client-cert: /c}}"),
            "slurm-vm.yaml:1: store.etcd.client-cert: client-cert and client-key go together");
  EXPECT_EQ(
      error_of("store: {type: etcd, etcd: {endpoints: [http://e], password: x}}"),
      "slurm-vm.yaml:1: store.etcd.password: unknown key; expected one of: endpoints, prefix, "
      "ca-cert, client-cert, client-key");
  EXPECT_EQ(error_of("batch-args: --partition=vm"),
            "slurm-vm.yaml:1: batch-args: expected a list, got \"--partition=vm\"");
  EXPECT_EQ(error_of("ssh: {}"),
            "slurm-vm.yaml:1: ssh: unknown key; expected one of: store, batch-args, ovs, node-scratch");
}

TEST(ConfigSiteSettings, OvsBridgeAndDatapath) {
  const SiteSettings d = site("");
  EXPECT_EQ(d.ovs.bridge, "br-int");
  EXPECT_EQ(d.ovs.datapath, OvsDatapath::auto_detect);
  EXPECT_EQ(to_string(d.ovs.datapath), "auto");
  const SiteSettings s = site("ovs: {bridge: br-vm, datapath: netdev}\n");
  EXPECT_EQ(s.ovs.bridge, "br-vm");
  EXPECT_EQ(s.ovs.datapath, OvsDatapath::netdev);
  EXPECT_EQ(site("ovs: {datapath: system}").ovs.datapath, OvsDatapath::system);
  EXPECT_EQ(error_of("ovs: {datapath: dpdk}"),
            "slurm-vm.yaml:1: ovs.datapath: expected one of auto, system or netdev, got \"dpdk\"");
  EXPECT_EQ(error_of("ovs: {bridge: \"br int\"}"),
            "slurm-vm.yaml:1: ovs.bridge: expected an interface name (1 to 15 of letters, digits, _ . -; not "
            "starting with - or .)");
  EXPECT_EQ(error_of("ovs: {bridge: a-bridge-name-too-long}").substr(0, 31), "slurm-vm.yaml:1: ovs.bridge: ex");
  EXPECT_EQ(error_of("ovs: {tunnel: gre}"),
            "slurm-vm.yaml:1: ovs.tunnel: unknown key; expected one of: bridge, datapath, max-ports-per-node");
  EXPECT_EQ(d.ovs.max_ports_per_node, 1024);
  EXPECT_EQ(site("ovs: {max-ports-per-node: 64}").ovs.max_ports_per_node, 64);
  EXPECT_EQ(error_of("ovs: {max-ports-per-node: 0}"),
            "slurm-vm.yaml:1: ovs.max-ports-per-node: expected an integer between 1 and 65535, got \"0\"");
}
