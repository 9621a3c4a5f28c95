// Opening the node's pkey store (pkey_store_open.hpp).
#include "vfio/pkey_store_open.hpp"

#include <fmt/format.h>

#include "error.hpp"
#include "vfio/etcd_pkey_store.hpp"

namespace slurmvm::vfio {

PkeyStoreSpec store_spec(const config::StoreSettings& settings) {
  if (settings.type == config::StoreType::file) return {settings.path, {}, {}, {}};
  std::string prefix = settings.etcd.prefix;
  if (prefix.empty() || prefix.back() != '/') prefix += '/';
  return {{},
          settings.etcd.endpoints,
          prefix + "pkeys/",
          {settings.etcd.ca_cert.value_or(""), settings.etcd.client_cert.value_or(""),
           settings.etcd.client_key.value_or("")}};
}

std::unique_ptr<PkeyStore> open_pkey_store(const PkeyStoreSpec& spec, std::chrono::milliseconds timeout) {
  if (spec.etcd()) {
    if (spec.etcd_prefix.empty() || spec.etcd_prefix.front() != '/') {
      throw Error(fmt::format("etcd key prefix \"{}\" is not absolute", spec.etcd_prefix), ErrorKind::config);
    }
    return std::make_unique<EtcdPkeyStore>(EtcdClient(spec.etcd_endpoints, timeout, spec.etcd_tls), spec.etcd_prefix);
  }
  const std::filesystem::path p = spec.path;
  if (!p.is_absolute() || p.lexically_normal() != p) {
    throw Error(fmt::format("pkey store \"{}\" is not an absolute, normalised path", spec.path), ErrorKind::config);
  }
  return std::make_unique<FilePkeyStore>(p, timeout);
}

}  // namespace slurmvm::vfio
