// Which pkey store a node uses, as the prolog records it in the job's ledger (the epilog reads
// no configuration): the file store's directory, or etcd's endpoints and key prefix
// (slurm-vm.yaml store:). One function opens either.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "config/site_settings.hpp"
#include "vfio/etcd_tls.hpp"
#include "vfio/pkey_store.hpp"

namespace slurmvm::vfio {

struct PkeyStoreSpec {
  std::string path;                         // file store: an absolute directory
  std::vector<std::string> etcd_endpoints;  // etcd store: http(s)://host:port...
  std::string etcd_prefix;                  // etcd store: slurm-vm.yaml store.etcd.prefix
  EtcdTlsFiles etcd_tls;                    // etcd store: ca-cert, client-cert, client-key
  bool etcd() const noexcept { return !etcd_endpoints.empty(); }
  bool operator==(const PkeyStoreSpec&) const = default;
};

PkeyStoreSpec store_spec(const config::StoreSettings& settings);

// Throws Error(config) for a spec that is neither (a relative path, a bad endpoint, TLS files
// that do not load).
std::unique_ptr<PkeyStore> open_pkey_store(const PkeyStoreSpec& spec, std::chrono::milliseconds timeout);

}  // namespace slurmvm::vfio
