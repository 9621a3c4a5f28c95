// The file store of partition keys (pkey_store.hpp).
#include "vfio/pkey_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "atomic_file.hpp"
#include "config/names.hpp"
#include "config/net_addresses.hpp"
#include "deadline.hpp"
#include "file_lock.hpp"
#include "error.hpp"
#include "file_read.hpp"
#include "log.hpp"
#include "private_dir.hpp"
#include "unique_fd.hpp"
#include "vfio/ib_guid.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace slurmvm::vfio {
namespace {

constexpr std::size_t kMaxAllocationBytes = 4 << 20;

// flock(2) on the network's lock file until `timeout`; released with the descriptor.
UniqueFd lock_dir(const fs::path& dir, std::chrono::milliseconds timeout) {
  const fs::path file = dir / ".lock";
  UniqueFd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) throw Error::from_errno(fmt::format("opening {}", file.string()), errno);
  if (!flock_until(fd.get(), deadline_in(timeout), file.string())) {
    throw Error(fmt::format("{} stayed locked for {} ms (a prolog or vm-pkeyd hangs?)", file.string(),
                            timeout.count()),
                ErrorKind::timeout);
  }
  return fd;
}

fs::path allocation_file(const fs::path& dir, std::uint16_t pkey) { return dir / fmt::format("{:#06x}.json", pkey); }

// The allocations in `dir`, each with its file.
std::vector<std::pair<fs::path, PkeyAllocation>> read_dir(const fs::path& dir) {
  std::vector<std::pair<fs::path, PkeyAllocation>> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with("0x") || !name.ends_with(".json")) continue;  // .lock, temp files
    try {
      out.emplace_back(entry.path(), parse_allocation(read_file(entry.path(), kMaxAllocationBytes, Symlinks::refuse),
                                                      entry.path().string()));
    } catch (const Error& e) {
      log_warning("{}: skipped: {}", entry.path().string(), e.what());
    }
  }
  return out;
}

std::set<std::uint16_t> pkeys_named(const fs::path& dir) {
  std::set<std::uint16_t> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (!name.ends_with(".json")) continue;
    name.resize(name.size() - 5);
    if (const auto pkey = config::parse_pkey(name)) out.insert(*pkey);
  }
  return out;
}

json guids_json(const std::vector<std::uint64_t>& guids) {
  json out = json::array();
  for (auto g : guids) out.push_back(format_guid(g));
  return out;
}

std::vector<std::uint64_t> guids_of(const json& j, std::string_view what) {
  std::vector<std::uint64_t> out;
  for (const auto& g : j) {
    const auto v = g.is_string() ? parse_guid(g.get<std::string>()) : std::nullopt;
    if (!v) throw Error(fmt::format("{}: {} is not a GUID", what, g.dump()), ErrorKind::config);
    out.push_back(*v);
  }
  return out;
}

}  // namespace

std::uint16_t lowest_free_pkey(const std::string& network, PkeyRange range, const std::set<std::uint16_t>& held) {
  std::uint32_t pkey = range.min;
  while (pkey <= range.max && held.count(static_cast<std::uint16_t>(pkey)) != 0) ++pkey;
  if (range.min == 0 || pkey > range.max) {
    throw PkeysExhausted(fmt::format("network {}: every partition key of [{:#06x}, {:#06x}] is held by a running job ({} "
                            "jobs): wait for one to end, or widen min-pkey/max-pkey in networks.yaml",
                            network, range.min, range.max, held.size()),
                ErrorKind::config);
  }
  return static_cast<std::uint16_t>(pkey);
}

std::string members_to_text(const NodeMembers& m) {
  return json{{"host", guids_json(m.host_guids)}, {"vfs", guids_json(m.vf_guids)}}.dump();
}

NodeMembers parse_members(std::string_view text, const std::string& node) {
  try {
    const json m = json::parse(text);
    return {guids_of(m.at("host"), node), guids_of(m.at("vfs"), node)};
  } catch (const json::exception& e) {
    throw Error(fmt::format("members of {}: {}", node, e.what()), ErrorKind::config);
  }
}

std::string to_text(const PkeyAllocation& a) {
  json members = json::object();
  for (const auto& [node, m] : a.members) members[node] = {{"host", guids_json(m.host_guids)}, {"vfs", guids_json(m.vf_guids)}};
  return json{{"network", a.network}, {"pkey", fmt::format("{:#06x}", a.pkey)}, {"job", a.job}, {"members", members}}
             .dump(1) +
         "\n";
}

PkeyAllocation parse_allocation(std::string_view text, std::string_view source) {
  return with_context(std::string(source), [&] {
    try {
      const json j = json::parse(text);
      PkeyAllocation a;
      a.network = j.at("network").get<std::string>();
      const auto pkey = config::parse_pkey(j.at("pkey").get<std::string>());
      if (!pkey || *pkey == 0 || *pkey > 0x7ffe) throw Error("pkey out of range", ErrorKind::config);
      a.pkey = *pkey;
      a.job = j.at("job").get<std::uint32_t>();
      for (const auto& [node, m] : j.at("members").items()) {
        a.members[node] = {guids_of(m.at("host"), node), guids_of(m.at("vfs"), node)};
      }
      return a;
    } catch (const json::exception& e) {
      throw Error(fmt::format("not a pkey allocation: {}", e.what()), ErrorKind::config);
    }
  });
}

fs::path FilePkeyStore::network_dir(const std::string& network) const {
  if (!config::is_valid_name(network)) throw Error(fmt::format("\"{}\" is not a network name", network), ErrorKind::internal);
  const fs::path dir = root_ / "pkeys" / network;
  make_private_dir(root_, dir, 0700);
  return dir;
}

std::uint16_t FilePkeyStore::join(const std::string& network, PkeyRange range, std::uint32_t job,
                                       const std::string& node,
                                       const std::function<NodeMembers(std::uint16_t)>& members_of) {
  const fs::path dir = network_dir(network);
  const UniqueFd lock = lock_dir(dir, lock_timeout_);
  // Every pkey a file is named after is held, even one whose file does not parse: handing it to
  // a second job would be worse than running out.
  std::set<std::uint16_t> held = pkeys_named(dir);
  std::optional<PkeyAllocation> mine;
  for (auto& [file, a] : read_dir(dir)) {
    held.insert(a.pkey);
    if (a.job == job && !mine) mine = std::move(a);
  }
  if (!mine) mine = PkeyAllocation{network, lowest_free_pkey(network, range, held), job, {}};
  mine->members[node] = members_of(mine->pkey);
  write_file_atomic(allocation_file(dir, mine->pkey), to_text(*mine), 0600);
  return mine->pkey;
}

std::uint16_t FilePkeyStore::leave(const std::string& network, std::uint32_t job, const std::string& node) {
  const fs::path dir = network_dir(network);
  const UniqueFd lock = lock_dir(dir, lock_timeout_);
  for (auto& [file, a] : read_dir(dir)) {
    if (a.job != job) continue;
    a.members.erase(node);
    if (a.members.empty()) {
      if (::unlink(file.c_str()) != 0 && errno != ENOENT) throw Error::from_errno("removing " + file.string(), errno);
    } else {
      write_file_atomic(file, to_text(a), 0600);
    }
    return a.pkey;
  }
  return 0;
}

std::uint16_t FilePkeyStore::forget(const std::string& network, std::uint32_t job) {
  const fs::path dir = network_dir(network);
  const UniqueFd lock = lock_dir(dir, lock_timeout_);
  for (auto& [file, a] : read_dir(dir)) {
    if (a.job != job) continue;
    if (::unlink(file.c_str()) != 0 && errno != ENOENT) throw Error::from_errno("removing " + file.string(), errno);
    return a.pkey;
  }
  return 0;
}

std::vector<PkeyAllocation> FilePkeyStore::list() const {
  std::vector<PkeyAllocation> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root_ / "pkeys", ec)) {
    if (!entry.is_directory() || !config::is_valid_name(entry.path().filename().string())) continue;
    for (auto& [file, a] : read_dir(entry.path())) out.push_back(std::move(a));
  }
  std::sort(out.begin(), out.end(), [](const PkeyAllocation& a, const PkeyAllocation& b) {
    return std::tie(a.network, a.pkey) < std::tie(b.network, b.pkey);
  });
  return out;
}

}  // namespace slurmvm::vfio
