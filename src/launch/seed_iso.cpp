// The seed ISO (seed_iso.hpp).
#include "launch/seed_iso.hpp"

#include <sys/random.h>
#include <sys/stat.h>

#include <cerrno>

#include <fmt/format.h>

#include "error.hpp"
#include "launch/job_dir.hpp"
#include "launch/qemu_binary.hpp"
#include "subprocess.hpp"

namespace slurmvm::launch {

namespace fs = std::filesystem;

std::string random_mime_boundary() {
  unsigned char bytes[16];
  if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
    throw Error::from_errno("getrandom", errno);
  }
  std::string out = "==slurm-vm-";
  for (const unsigned char b : bytes) out += fmt::format("{:02x}", b);
  return out + "==";
}

void write_seed_iso(const SeedFiles& files, const fs::path& seed_dir, const fs::path& iso) {
  if (::mkdir(seed_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw Error::from_errno(fmt::format("cannot create {}", seed_dir.string()), errno);
  }
  // The user-data holds the VM's private host key: nobody else reads these files.
  write_file_atomic(seed_dir / "meta-data", files.meta_data, 0600, {}, Durability::flushed);
  write_file_atomic(seed_dir / "user-data", files.user_data, 0600, {}, Durability::flushed);
  std::vector<std::string> names = {"meta-data", "user-data"};
  const std::pair<const char*, const std::string*> optional_files[] = {
      {"network-config", &files.network_config}, {"hosts", &files.hosts}, {"ssh_host_ed25519_key", &files.host_key}};
  for (const auto& [name, content] : optional_files) {
    remove_if_exists(seed_dir / name);
    if (content->empty()) continue;
    write_file_atomic(seed_dir / name, *content, 0600, {}, Durability::flushed);
    names.push_back(name);
  }

  fs::path tmp = iso;
  tmp += ".tmp";
  remove_if_exists(tmp);
  Command c;
  c.timeout = std::chrono::seconds(60);
  std::vector<std::string> common = {"-quiet", "-V", "cidata", "-J", "-r", "-o", tmp.string()};
  for (const auto& name : names) common.push_back((seed_dir / name).string());
  fs::path tool;
  try {
    tool = find_in_fixed_dirs("genisoimage");
    c.argv = {tool.string()};
  } catch (const Error&) {
    try {
      tool = find_in_fixed_dirs("xorriso");
    } catch (const Error&) {
      throw Error("neither genisoimage nor xorriso is installed: one is needed to build the VM's "
                  "cloud-init seed (apt-get install genisoimage)",
                  ErrorKind::not_found);
    }
    c.argv = {tool.string(), "-as", "mkisofs"};
  }
  c.argv.insert(c.argv.end(), common.begin(), common.end());
  with_context("building the seed ISO", [&] { run_checked(c); });
  if (::chmod(tmp.c_str(), 0600) != 0) throw Error::from_errno(fmt::format("chmod {}", tmp.string()), errno);
  std::error_code ec;
  fs::rename(tmp, iso, ec);
  if (ec) throw Error(fmt::format("cannot rename {} to {}", tmp.string(), iso.string()), ErrorKind::system, ec.value());
}

}  // namespace slurmvm::launch
