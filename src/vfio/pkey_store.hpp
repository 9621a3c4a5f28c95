// The partition keys of running jobs, cluster-wide: which job holds which pkey of an
// `infiniband` network, and which ports are its full members (the physical ports of its nodes
// and its VFs). vm-prolog joins on each node, vm-epilog leaves, vm-pkeyd reads it all to write
// OpenSM's partitions file.
//
// Allocation is per job and idempotent: the first node of a job to join takes the lowest free
// pkey of [min-pkey, max-pkey] under the store's lock, the job's other nodes (at the same moment
// or later, or a retried prolog) find it and add their members. A pkey is released only when the
// job's last node has left, that is once every node of the job has given its VFs' GUIDs back:
// VF GUIDs derive from the pkey (ib_guid.hpp), so a pkey handed to a new job while an old VF
// still carries a GUID derived from it would put one GUID twice in the fabric.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "error.hpp"

namespace slurmvm::vfio {

struct NodeMembers {
  std::vector<std::uint64_t> host_guids;  // the node's physical ports on the network
  std::vector<std::uint64_t> vf_guids;    // the job's VFs on this node
  bool operator==(const NodeMembers&) const = default;
};

struct PkeyAllocation {
  std::string network;
  std::uint16_t pkey = 0;
  std::uint32_t job = 0;
  std::map<std::string, NodeMembers> members;  // by node name
};

struct PkeyRange {
  std::uint16_t min = 0;
  std::uint16_t max = 0;
};

// Where the allocations live: the embedded file store below, or etcd (etcd_pkey_store.hpp).
class PkeyStore {
 public:
  virtual ~PkeyStore() = default;
  // The job's pkey on `network`: its own if it holds one, else the lowest free in `range`;
  // `members_of(pkey)` gives this node's members, recorded under `node` (replacing what the node
  // recorded before). Throws Error(config) naming the network and the range when every pkey is
  // held; Error(timeout) or Error(system) when the store does not answer.
  virtual std::uint16_t join(const std::string& network, PkeyRange range, std::uint32_t job, const std::string& node,
                             const std::function<NodeMembers(std::uint16_t)>& members_of) = 0;
  // Removes `node`'s members of the job's pkey; the pkey is released when no node is left.
  // Nothing held: nothing to do (idempotent). Returns the pkey it held, 0 when none.
  virtual std::uint16_t leave(const std::string& network, std::uint32_t job, const std::string& node) = 0;
  // Drops the job's allocation whatever its members (vm-pkeyd, for a job Slurm no longer knows:
  // its nodes' epilogs will never leave). Returns the pkey it held, 0 when none.
  virtual std::uint16_t forget(const std::string& network, std::uint32_t job) = 0;
  // Every held pkey of every network, sorted by network then pkey. An entry that does not parse
  // is skipped with a warning: one bad entry must not drop every job's partition.
  virtual std::vector<PkeyAllocation> list() const = 0;
};

// The embedded store: a directory every compute node and the subnet manager's host share
// (slurm-vm.yaml store.path), one file per held pkey under pkeys/<network>/, changed under an
// flock of pkeys/<network>/.lock (NFSv4 and local filesystems honour it; docs/infiniband.md).
class FilePkeyStore final : public PkeyStore {
 public:
  explicit FilePkeyStore(std::filesystem::path root,
                         std::chrono::milliseconds lock_timeout = std::chrono::seconds(30))
      : root_(std::move(root)), lock_timeout_(lock_timeout) {}

  // The pkey store's operations under the network's lock (Error(timeout) when it stays taken).
  std::uint16_t join(const std::string& network, PkeyRange range, std::uint32_t job, const std::string& node,
                     const std::function<NodeMembers(std::uint16_t)>& members_of) override;
  std::uint16_t leave(const std::string& network, std::uint32_t job, const std::string& node) override;
  std::uint16_t forget(const std::string& network, std::uint32_t job) override;
  std::vector<PkeyAllocation> list() const override;

 private:
  std::filesystem::path network_dir(const std::string& network) const;

  std::filesystem::path root_;
  std::chrono::milliseconds lock_timeout_;
};

// One node's members as JSON text and back ({"host": ["0x..."], "vfs": [...]}; pure). The
// parser throws Error(config) naming `node`.
std::string members_to_text(const NodeMembers& m);
NodeMembers parse_members(std::string_view text, const std::string& node);

// Every pkey of a network's range is held by a running job: the job that asked must wait for
// another to end (the prolog's JobError), which no other store failure means.
class PkeysExhausted : public Error {
 public:
  using Error::Error;
};

// The lowest pkey of `range` not in `held`; PkeysExhausted (kind config) naming the network and
// the range when there is none (pure).
std::uint16_t lowest_free_pkey(const std::string& network, PkeyRange range, const std::set<std::uint16_t>& held);

// One allocation file's text and back (pure).
std::string to_text(const PkeyAllocation& a);
PkeyAllocation parse_allocation(std::string_view text, std::string_view source);

}  // namespace slurmvm::vfio
