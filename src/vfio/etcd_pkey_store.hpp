// The pkey store in etcd v3 (slurm-vm.yaml store.type: etcd), for sites whose compute nodes and
// subnet manager share no directory, or that want the store replicated. The same semantics as
// the file store (pkey_store.hpp), race-free through etcd transactions instead of a lock:
//
//   <prefix><network>/0x2001          {"job": 4301}            created only if absent (txn on
//                                                              create_revision 0): one job per key
//   <prefix><network>/0x2001/<node>   {"host": [...], "vfs": [...]}   this node's members
//
// Every key of a job is attached to the job's lease (id kLeaseBase | job, granted by whichever
// node comes first, TTL `lease_ttl`). vm-pkeyd renews the leases of the jobs Slurm still shows;
// a job whose nodes' epilogs never ran stops being renewed and its keys, so its pkey, come back
// `lease_ttl` later without anyone having to notice (pcocc's etcd v2 tree kept them forever).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "vfio/etcd_client.hpp"
#include "vfio/pkey_store.hpp"

namespace slurmvm::vfio {

// "SV" in the top bytes, as the flow cookies: leases of other etcd users never collide.
inline constexpr std::int64_t kLeaseBase = 0x5356LL << 48;
inline constexpr std::chrono::seconds kDefaultLeaseTtl{3600};
inline constexpr const char* kDefaultEtcdPrefix = "/slurm-vm/pkeys/";

std::int64_t job_lease(std::uint32_t job);

class EtcdPkeyStore final : public PkeyStore {
 public:
  EtcdPkeyStore(EtcdClient client, std::string prefix = kDefaultEtcdPrefix,
                std::chrono::seconds lease_ttl = kDefaultLeaseTtl);

  std::uint16_t join(const std::string& network, PkeyRange range, std::uint32_t job, const std::string& node,
                     const std::function<NodeMembers(std::uint16_t)>& members_of) override;
  std::uint16_t leave(const std::string& network, std::uint32_t job, const std::string& node) override;
  std::uint16_t forget(const std::string& network, std::uint32_t job) override;
  std::vector<PkeyAllocation> list() const override;

  // vm-pkeyd: renews the lease of each job in `jobs`; returns the jobs whose lease was gone.
  std::vector<std::uint32_t> renew(const std::vector<std::uint32_t>& jobs);

 private:
  std::string network_prefix(const std::string& network) const;
  std::vector<PkeyAllocation> allocations(const std::string& key_prefix) const;

  mutable EtcdClient client_;
  std::string prefix_;
  std::chrono::seconds lease_ttl_;
};

}  // namespace slurmvm::vfio
