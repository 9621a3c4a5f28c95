// Site settings of slurm-vm.yaml (site_settings.hpp).
#include "config/site_settings.hpp"

#include <fmt/format.h>

#include "config/enum_names.hpp"

namespace slurmvm::config {
namespace {

constexpr EnumName<StoreType> kStoreTypes[] = {{"file", StoreType::file},
                                               {"etcd", StoreType::etcd}};

std::string read_endpoint(const Value& v) {
  std::string url = v.as_nonempty_string();
  std::string_view rest = url;
  if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else {
    v.fail_expected("an http:// or https:// URL");
  }
  if (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.empty() || rest.find_first_of("/?# ") != std::string_view::npos) {
    v.fail_expected("an http(s)://host[:port] URL");
  }
  return url;
}

EtcdSettings read_etcd(const Value& v) {
  Mapping m = v.as_map();
  EtcdSettings etcd;
  const Value endpoints = m.require("endpoints");
  for (const Value& item : endpoints.as_list()) etcd.endpoints.push_back(read_endpoint(item));
  if (etcd.endpoints.empty()) endpoints.fail_expected("a non-empty list of URLs");
  if (auto p = m.get("prefix")) {
    etcd.prefix = p->as_nonempty_string();
    if (etcd.prefix.front() != '/') p->fail_expected("a key prefix starting with '/'");
  }
  if (auto c = m.get("ca-cert")) etcd.ca_cert = c->as_absolute_path();
  const auto cert = m.get("client-cert");
  const auto key = m.get("client-key");
  if (cert) etcd.client_cert = cert->as_absolute_path();
  if (key) etcd.client_key = key->as_absolute_path();
  m.reject_unknown_keys();
  if (cert.has_value() != key.has_value()) {
    (cert ? *cert : *key).fail("client-cert and client-key go together");
  }
  return etcd;
}

constexpr EnumName<OvsDatapath> kOvsDatapaths[] = {
    {"auto", OvsDatapath::auto_detect}, {"system", OvsDatapath::system}, {"netdev", OvsDatapath::netdev}};

OvsSettings read_ovs(const Value& v) {
  Mapping m = v.as_map();
  OvsSettings ovs;
  if (auto b = m.get("bridge")) {
    ovs.bridge = b->as_string();
    // It becomes an interface name, an OVSDB value and an ovs-ofctl target: the TAP rule.
    const bool ok = !ovs.bridge.empty() && ovs.bridge.size() <= 15 && ovs.bridge.front() != '-' &&
                    ovs.bridge.front() != '.' &&
                    ovs.bridge.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
                        std::string::npos;
    if (!ok) b->fail("expected an interface name (1 to 15 of letters, digits, _ . -; not starting with - or .)");
  }
  if (auto d = m.get("datapath")) ovs.datapath = d->as_enum<OvsDatapath>(kOvsDatapaths);
  if (auto p = m.get("max-ports-per-node")) ovs.max_ports_per_node = p->as_int32(1, 65535);
  m.reject_unknown_keys();
  return ovs;
}

StoreSettings read_store(const Value& v) {
  Mapping m = v.as_map();
  StoreSettings store;
  if (auto t = m.get("type")) store.type = t->as_enum<StoreType>(kStoreTypes);
  const auto path = m.get("path");
  const auto etcd = m.get("etcd");
  m.reject_unknown_keys();
  // Settings of the other backend are a mistake, not something to ignore silently.
  if (store.type == StoreType::file) {
    if (etcd) etcd->fail("etcd settings need `type: etcd`");
    if (path) store.path = path->as_absolute_path();
  } else {
    if (path) path->fail("path is for `type: file`");
    if (!etcd) m.self().fail("missing required key \"etcd\" (for `type: etcd`)");
    store.etcd = read_etcd(*etcd);
  }
  return store;
}

}  // namespace

std::string_view to_string(OvsDatapath datapath) noexcept {
  return name_of<OvsDatapath>(kOvsDatapaths, datapath);
}

std::string_view to_string(StoreType type) noexcept {
  return name_of<StoreType>(kStoreTypes, type);
}

SiteSettings parse_site_settings(const Value& root) {
  Mapping m = root.as_map();
  SiteSettings site;
  if (auto store = m.get("store")) site.store = read_store(*store);
  if (auto args = m.get("batch-args")) site.batch_args = args->as_string_list();
  if (auto ovs = m.get("ovs")) site.ovs = read_ovs(*ovs);
  if (auto s = m.get("node-scratch")) site.node_scratch = s->as_expandable_string();
  m.reject_unknown_keys();
  return site;
}

}  // namespace slurmvm::config
