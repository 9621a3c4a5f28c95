// SSH keys for the seed (ssh_keys.hpp).
#include "launch/ssh_keys.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "error.hpp"
#include "launch/job_dir.hpp"
#include "log.hpp"
#include "subprocess.hpp"

namespace slurmvm::launch {

namespace fs = std::filesystem;

bool looks_like_public_key(std::string_view line) {
  static constexpr std::array<std::string_view, 8> kTypes = {
      "ssh-ed25519",         "ssh-rsa",
      "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
      "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
      "sk-ecdsa-sha2-nistp256@openssh.com", "ssh-dss",
  };
  const std::size_t space = line.find(' ');
  if (space == std::string_view::npos) return false;
  const std::string_view type = line.substr(0, space);
  if (std::find(kTypes.begin(), kTypes.end(), type) == kTypes.end()) return false;
  const std::string_view blob = line.substr(space + 1);
  if (!blob.starts_with("AAAA")) return false;
  const std::size_t end = blob.find(' ');
  const std::string_view data = blob.substr(0, end);
  return data.size() >= 16 &&
         data.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") ==
             std::string_view::npos;
}

std::vector<std::string> read_user_public_keys(const fs::path& ssh_dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(ssh_dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".pub" && it->is_regular_file(ec)) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> keys;
  for (const fs::path& file : files) {
    std::string text;
    try {
      text = read_file(file, 1024 * 1024);
    } catch (const Error& e) {
      log_warning("skipping {}: {}", file.string(), e.what());
      continue;
    }
    std::size_t start = 0;
    while (start < text.size()) {
      std::size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      std::string line = text.substr(start, end - start);
      start = end + 1;
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
      if (!looks_like_public_key(line)) continue;
      if (std::find(keys.begin(), keys.end(), line) == keys.end()) keys.push_back(std::move(line));
    }
  }
  if (keys.empty()) {
    throw Error(fmt::format("no SSH public key in {}/*.pub to authorise in the VMs: create one "
                            "with `ssh-keygen -t ed25519` (the home directory must be the one the "
                            "nodes see)",
                            ssh_dir.string()),
                ErrorKind::not_found);
  }
  return keys;
}

HostKey generate_host_key(const fs::path& key_path, const std::string& comment) {
  fs::path pub = key_path;
  pub += ".pub";
  // ssh-keygen asks before overwriting; a key left by an earlier launch is simply replaced.
  remove_if_exists(key_path);
  remove_if_exists(pub);
  Command c;
  c.argv = {"/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
            "-f", key_path.string()};
  c.timeout = std::chrono::seconds(30);
  with_context("generating the VM's SSH host key", [&] { run_checked(c); });
  HostKey key;
  key.private_key = read_file(key_path, 64 * 1024);
  key.public_key = read_file(pub, 64 * 1024);
  while (!key.public_key.empty() && (key.public_key.back() == '\n' || key.public_key.back() == '\r')) {
    key.public_key.pop_back();
  }
  // The seed carries the private half; no second copy stays around.
  remove_if_exists(key_path);
  if (!looks_like_public_key(key.public_key)) {
    throw Error(fmt::format("ssh-keygen wrote an unexpected public key: {}", key.public_key),
                ErrorKind::system);
  }
  return key;
}

}  // namespace slurmvm::launch
