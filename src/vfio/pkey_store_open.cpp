// Opening the node's pkey store (pkey_store_open.hpp).
#include "vfio/pkey_store_open.hpp"

#include <fmt/format.h>

#include "error.hpp"
#include "vfio/etcd_pkey_store.hpp"

namespace slurmvm::vfio {

PkeyStoreSpec store_spec(const config::StoreSettings& settings) {
  if (settings.type == config::StoreType::file) return {settings.path, {}, {}};
  if (settings.etcd.ca_cert || settings.etcd.client_cert || settings.etcd.client_key) {
    throw Error("slurm-vm.yaml store.etcd: TLS (ca-cert, client-cert, client-key) is not supported yet by the pkey "
                "store; use http:// endpoints on a trusted network or the file store",
                ErrorKind::config);
  }
  std::string prefix = settings.etcd.prefix;
  if (prefix.empty() || prefix.back() != '/') prefix += '/';
  return {{}, settings.etcd.endpoints, prefix + "pkeys/"};
}

std::unique_ptr<PkeyStore> open_pkey_store(const PkeyStoreSpec& spec, std::chrono::milliseconds timeout) {
  if (spec.etcd()) {
    if (spec.etcd_prefix.empty() || spec.etcd_prefix.front() != '/') {
      throw Error(fmt::format("etcd key prefix \"{}\" is not absolute", spec.etcd_prefix), ErrorKind::config);
    }
    return std::make_unique<EtcdPkeyStore>(EtcdClient(spec.etcd_endpoints, timeout), spec.etcd_prefix);
  }
  const std::filesystem::path p = spec.path;
  if (!p.is_absolute() || p.lexically_normal() != p) {
    throw Error(fmt::format("pkey store \"{}\" is not an absolute, normalised path", spec.path), ErrorKind::config);
  }
  return std::make_unique<FilePkeyStore>(p, timeout);
}

}  // namespace slurmvm::vfio
