// Checkpoint directories (checkpoint.hpp).
#include "checkpoint.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "error.hpp"
#include "file_read.hpp"
#include "image_repo.hpp"
#include "image_repo_detail.hpp"
#include "subprocess.hpp"

namespace slurmvm {

namespace fs = std::filesystem;
using nlohmann::json;

std::string checkpoint_disk_name(std::uint32_t rank) { return fmt::format("disk-vm{}.qcow2", rank); }
std::string checkpoint_memory_name(std::uint32_t rank) { return fmt::format("memory-vm{}", rank); }

json to_json(const CheckpointFile& f) { return {{"name", f.name}, {"size", f.size}, {"sha256", f.sha256}}; }

CheckpointFile parse_checkpoint_file(const json& j, const std::string& expected_name) {
  CheckpointFile f;
  f.name = j.at("name").get<std::string>();
  f.size = j.at("size").get<std::uint64_t>();
  f.sha256 = j.at("sha256").get<std::string>();
  // The names are fixed: a manifest naming another path (../x, /etc/...) is not ours.
  if (f.name != expected_name) throw Error(fmt::format("file \"{}\" where {} was expected", f.name, expected_name));
  static const std::regex hex("[0-9a-f]{64}");
  if (!std::regex_match(f.sha256, hex)) throw Error(fmt::format("{}: \"{}\" is not a sha256", f.name, f.sha256));
  return f;
}

json to_json(const Checkpoint& c) {
  json vms = json::array();
  for (const auto& vm : c.vms) {
    vms.push_back({{"rank", vm.rank},
                   {"vcpus", vm.vcpus},
                   {"memory_mib", vm.memory_mib},
                   {"accel", vm.accel},
                   {"mac", vm.mac},
                   {"host_key_pub", vm.host_key_pub},
                   {"image", vm.image},
                   {"disk", vm.disk ? to_json(*vm.disk) : json(nullptr)},
                   {"memory", to_json(vm.memory)}});
  }
  return {{"format", kCheckpointFormat}, {"job_id", c.job_id},     {"created", c.created},
          {"network_id", c.network_id},  {"resolved", c.resolved}, {"vms", std::move(vms)}};
}

Checkpoint parse_checkpoint(std::string_view text, std::string_view source) {
  try {
    const json j = json::parse(text);
    if (const int format = j.at("format").get<int>(); format != kCheckpointFormat) {
      throw Error(fmt::format("format {}, this slurm-vm reads format {}", format, kCheckpointFormat));
    }
    Checkpoint c;
    c.job_id = j.at("job_id").get<std::uint32_t>();
    c.created = j.at("created").get<std::string>();
    c.network_id = j.at("network_id").get<std::uint32_t>();
    c.resolved = j.at("resolved");
    c.definition = c.resolved.at("definition").get<std::string>();
    for (const auto& v : j.at("vms")) {
      CheckpointVm vm;
      vm.rank = v.at("rank").get<std::uint32_t>();
      if (vm.rank != c.vms.size()) throw Error(fmt::format("VM rank {} out of order", vm.rank));
      vm.vcpus = v.at("vcpus").get<std::uint32_t>();
      vm.memory_mib = v.at("memory_mib").get<std::uint64_t>();
      vm.accel = v.at("accel").get<std::string>();
      vm.mac = v.at("mac").get<std::string>();
      vm.host_key_pub = v.at("host_key_pub").get<std::string>();
      vm.image = v.at("image");
      if (!v.at("disk").is_null()) vm.disk = parse_checkpoint_file(v.at("disk"), checkpoint_disk_name(vm.rank));
      vm.memory = parse_checkpoint_file(v.at("memory"), checkpoint_memory_name(vm.rank));
      c.vms.push_back(std::move(vm));
    }
    if (c.vms.empty()) throw Error("no VM");
    return c;
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: not a slurm-vm checkpoint description: {}", source, e.what()), ErrorKind::config);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: not a slurm-vm checkpoint description: {}", source, e.what()), ErrorKind::config);
  }
}

Checkpoint read_checkpoint(const fs::path& dir) {
  const fs::path manifest = dir / kCheckpointManifest;
  const auto text = read_file_if_exists(manifest, 16 * 1024 * 1024);
  if (!text) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      throw Error(fmt::format("{} is not a checkpoint directory: it does not exist", dir.string()),
                  ErrorKind::not_found);
    }
    throw Error(fmt::format("{} holds no {}: it is not a checkpoint, or only part of one (a vm ckpt that did not "
                            "finish); it cannot be restored",
                            dir.string(), kCheckpointManifest),
                ErrorKind::not_found);
  }
  return parse_checkpoint(*text, manifest.string());
}

void verify_checkpoint_file(const fs::path& dir, const CheckpointFile& file, bool hash) {
  const fs::path path = dir / file.name;
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  const auto damaged = [&](const std::string& what) {
    return Error(fmt::format("checkpoint {} is damaged: {} {}; it cannot be restored", dir.string(), file.name, what),
                 ErrorKind::config);
  };
  if (ec) throw damaged(fmt::format("is unreadable ({})", ec.message()));
  if (size != file.size) throw damaged(fmt::format("has {} bytes where {} were written", size, file.size));
  if (hash) {
    if (const std::string h = sha256_file(path); h != file.sha256) {
      throw damaged(fmt::format("has sha256 {} where {} was written", h, file.sha256));
    }
  }
}

CheckpointFile describe_checkpoint_file(const fs::path& dir, const std::string& name) {
  const fs::path path = dir / name;
  CheckpointFile f;
  f.name = name;
  f.size = fs::file_size(path);
  f.sha256 = sha256_file(path);
  return f;
}

void rebase_off_checkpoint(const fs::path& layer, const fs::path& checkpoint_layer) {
  using namespace image_repo_detail;
  Command c;
  // -U: the running (paused) QEMU holds the old layer as its backing file.
  c.argv = {qemu_img(), "info", "-U", "--output=json", checkpoint_layer.string()};
  c.timeout = std::chrono::minutes(1);
  const json info = json::parse(run_checked(c).out);
  const std::string base = info.value("full-backing-filename", info.value("backing-filename", ""));
  if (base.empty()) {
    throw Error(fmt::format("{} has no backing file: not a checkpoint's disk layer", checkpoint_layer.string()),
                ErrorKind::system);
  }
  run_qemu_img({"rebase", "-U", "-f", "qcow2", "-F", info.value("backing-filename-format", "qcow2"), "-b", base,
                layer.string()},
               fmt::format("merging {} into {}", checkpoint_layer.string(), layer.string()));
}

fs::path checkpoint_staging_dir(const fs::path& dir) {
  return dir.parent_path() / fmt::format(".{}.partial-{}", dir.filename().string(), ::getpid());
}

void check_replaceable(const fs::path& dir) {
  static const std::regex ours(R"((checkpoint\.json|disk-vm\d+\.qcow2|memory-vm\d+))");
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(dir, ec))) {
    throw Error(fmt::format("{} exists and is not a directory: -F replaces only a checkpoint", dir.string()),
                ErrorKind::usage);
  }
  std::set<std::string> foreign;  // sorted: the message names the same one on every filesystem
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!std::regex_match(name, ours) || !it->is_regular_file()) foreign.insert(name);
  }
  if (ec) throw Error(fmt::format("cannot list {}: {}", dir.string(), ec.message()), ErrorKind::system, ec.value());
  if (!foreign.empty()) {
    throw Error(fmt::format("{} holds {}{}, which no checkpoint holds: -F replaces only a checkpoint (or an empty "
                            "directory); choose another directory",
                            dir.string(), *foreign.begin(),
                            foreign.size() > 1 ? fmt::format(" and {} more", foreign.size() - 1) : ""),
                ErrorKind::usage);
  }
}

void commit_checkpoint(const fs::path& staging, const fs::path& dir, bool force) {
  if (::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, dir.c_str(), RENAME_NOREPLACE) == 0) return;
  int err = errno;
  if (err != EEXIST && err != EINVAL) {
    throw Error::from_errno(fmt::format("cannot move the checkpoint into {}", dir.string()), err);
  }
  if (err == EEXIST && !force) {
    throw Error(fmt::format("{} exists: give -F to replace it", dir.string()), ErrorKind::usage);
  }
  if (err == EEXIST) {
    check_replaceable(dir);
    // One atomic swap where the filesystem has it (local ones; not NFS, which says EINVAL).
    if (::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE) == 0) {
      fs::remove_all(staging);  // the old checkpoint, now there
      return;
    }
    err = errno;
    if (err != EINVAL) throw Error::from_errno(fmt::format("cannot replace {}", dir.string()), err);
  }
  // No RENAME_NOREPLACE or RENAME_EXCHANGE here: the old one aside, the new one in, the old one
  // deleted; the old one back if the new one cannot go in.
  const fs::path old = dir.parent_path() / fmt::format(".{}.old-{}", dir.filename().string(), ::getpid());
  const bool existed = fs::exists(dir);
  if (existed && !force) throw Error(fmt::format("{} exists: give -F to replace it", dir.string()), ErrorKind::usage);
  if (existed) {
    check_replaceable(dir);
    if (::rename(dir.c_str(), old.c_str()) != 0) {
      throw Error::from_errno(fmt::format("cannot move the old checkpoint {} aside", dir.string()), errno);
    }
  }
  if (::rename(staging.c_str(), dir.c_str()) != 0) {
    err = errno;
    if (existed) ::rename(old.c_str(), dir.c_str());
    throw Error::from_errno(fmt::format("cannot move the checkpoint into {}", dir.string()), err);
  }
  if (existed) fs::remove_all(old);
}

}  // namespace slurmvm
