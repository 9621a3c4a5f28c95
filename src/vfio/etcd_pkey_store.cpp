// The pkey store in etcd v3 (etcd_pkey_store.hpp).
#include "vfio/etcd_pkey_store.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "config/names.hpp"
#include "config/net_addresses.hpp"
#include "error.hpp"
#include "log.hpp"

namespace slurmvm::vfio {
namespace {

// Two jobs racing for one key: the loser re-reads and takes the next. Bounded all the same.
constexpr int kMaxJoinAttempts = 64;

std::string pkey_text(std::uint16_t pkey) { return fmt::format("{:#06x}", pkey); }

}  // namespace

std::int64_t job_lease(std::uint32_t job) { return kLeaseBase | job; }

EtcdPkeyStore::EtcdPkeyStore(EtcdClient client, std::string prefix, std::chrono::seconds lease_ttl)
    : client_(std::move(client)), prefix_(std::move(prefix)), lease_ttl_(lease_ttl) {
  if (prefix_.empty() || prefix_.back() != '/') prefix_ += '/';
}

std::string EtcdPkeyStore::network_prefix(const std::string& network) const {
  if (!config::is_valid_name(network)) throw Error(fmt::format("\"{}\" is not a network name", network), ErrorKind::internal);
  return prefix_ + network + "/";
}

// The allocations under `key_prefix` (one network, or all): allocation keys and member keys
// folded together. An entry that does not parse is skipped with a warning.
std::vector<PkeyAllocation> EtcdPkeyStore::allocations(const std::string& key_prefix) const {
  std::map<std::pair<std::string, std::uint16_t>, PkeyAllocation> by_key;
  std::vector<std::pair<std::pair<std::string, std::uint16_t>, std::pair<std::string, std::string>>> members;
  for (const auto& kv : client_.range_prefix(key_prefix)) {
    // <prefix><network>/0xNNNN[/<node>]
    const std::string rest = kv.key.substr(prefix_.size());
    const auto slash = rest.find('/');
    if (slash == std::string::npos) continue;
    const std::string network = rest.substr(0, slash);
    const std::string tail = rest.substr(slash + 1);
    const auto slash2 = tail.find('/');
    const auto pkey = config::parse_pkey(tail.substr(0, slash2));
    try {
      if (!pkey || *pkey == 0 || *pkey > 0x7ffe) throw Error("not a partition key", ErrorKind::config);
      if (slash2 == std::string::npos) {
        const auto j = nlohmann::json::parse(kv.value);
        by_key[{network, *pkey}] = PkeyAllocation{network, *pkey, j.at("job").get<std::uint32_t>(), {}};
      } else {
        members.push_back({{network, *pkey}, {tail.substr(slash2 + 1), kv.value}});
      }
    } catch (const std::exception& e) {
      log_warning("etcd key {}: skipped: {}", kv.key, e.what());
    }
  }
  for (const auto& [key, m] : members) {
    const auto it = by_key.find(key);
    if (it == by_key.end()) continue;  // its allocation is being removed
    try {
      it->second.members[m.first] = parse_members(m.second, m.first);
    } catch (const Error& e) {
      log_warning("etcd: pkey {} of {}: skipped member {}: {}", pkey_text(key.second), key.first, m.first, e.what());
    }
  }
  std::vector<PkeyAllocation> out;
  for (auto& [key, a] : by_key) out.push_back(std::move(a));
  return out;
}

std::uint16_t EtcdPkeyStore::join(const std::string& network, PkeyRange range, std::uint32_t job,
                                  const std::string& node,
                                  const std::function<NodeMembers(std::uint16_t)>& members_of) {
  if (node.empty() || node.find('/') != std::string::npos) {
    throw Error(fmt::format("\"{}\" is not a node name", node), ErrorKind::internal);
  }
  const std::string net = network_prefix(network);
  const std::int64_t lease = job_lease(job);
  client_.grant_lease(lease, lease_ttl_);
  for (int attempt = 0; attempt < kMaxJoinAttempts; ++attempt) {
    std::set<std::uint16_t> held;
    std::optional<std::uint16_t> mine;
    for (const auto& a : allocations(net)) {
      held.insert(a.pkey);
      if (a.job == job) mine = a.pkey;
    }
    if (mine) {
      // Only while the allocation is the one read, and rewritten with the member (its mod
      // revision moves): a last node leaving meanwhile then sees the change and keeps it.
      const std::string key = net + pkey_text(*mine);
      for (const auto& kv : client_.range_prefix(key)) {
        if (kv.key != key) continue;
        if (client_.put_if_created_at(key, kv.create_revision,
                                      {{key + "/" + node, members_to_text(members_of(*mine))}, {key, kv.value}},
                                      lease)) {
          return *mine;
        }
      }
      continue;  // gone or made again meanwhile: read again
    }
    const std::uint16_t pkey = lowest_free_pkey(network, range, held);
    const std::string key = net + pkey_text(pkey);
    if (client_.create(key, nlohmann::json{{"job", job}}.dump(), lease,
                       {{key + "/" + node, members_to_text(members_of(pkey))}})) {
      return pkey;
    }
    // Another job took it (or another node of this job did): read again.
  }
  throw Error(fmt::format("network {}: no partition key after {} attempts (etcd under heavy contention)", network,
                          kMaxJoinAttempts),
              ErrorKind::timeout);
}

std::uint16_t EtcdPkeyStore::leave(const std::string& network, std::uint32_t job, const std::string& node) {
  const std::string net = network_prefix(network);
  for (const auto& a : allocations(net)) {
    if (a.job != job) continue;
    const std::string key = net + pkey_text(a.pkey);
    client_.remove(key + "/" + node);
    // The last node gone, the allocation goes: only if no node joined since this read (a join
    // rewrites the allocation with its member, moving its mod revision).
    const auto kvs = client_.range_prefix(key);
    const bool members_left = std::any_of(kvs.begin(), kvs.end(), [&](const EtcdKv& kv) { return kv.key != key; });
    if (!members_left) {
      for (const auto& kv : kvs) {
        if (kv.key == key) client_.remove_if_modified_at(key, kv.mod_revision);
      }
    }
    return a.pkey;
  }
  return 0;
}

std::uint16_t EtcdPkeyStore::forget(const std::string& network, std::uint32_t job) {
  const std::string net = network_prefix(network);
  for (const auto& a : allocations(net)) {
    if (a.job != job) continue;
    client_.remove(net + pkey_text(a.pkey), true);
    return a.pkey;
  }
  return 0;
}

std::vector<PkeyAllocation> EtcdPkeyStore::list() const { return allocations(prefix_); }

std::vector<std::uint32_t> EtcdPkeyStore::renew(const std::vector<std::uint32_t>& jobs) {
  std::vector<std::uint32_t> gone;
  for (const auto job : jobs) {
    if (!client_.keep_alive(job_lease(job))) gone.push_back(job);
  }
  return gone;
}

}  // namespace slurmvm::vfio
