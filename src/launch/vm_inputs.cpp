// What vm-launch gathers for one VM before QEMU starts (vm_inputs.hpp).
#include "launch/vm_inputs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <variant>

#include <fmt/format.h>

#include "drive_lock.hpp"
#include "error.hpp"
#include "image_repo.hpp"
#include "job_names.hpp"
#include "launch/image.hpp"
#include "launch/seed_iso.hpp"
#include "log.hpp"
#include "subprocess.hpp"

namespace slurmvm::launch {

namespace fs = std::filesystem;

// Template settings vm-launch does not implement yet. Mounts carry data: a VM without them
// would write where the user does not expect, so they are refused. The others only change
// convenience: warned about.
void check_supported(const config::Template& t) {
  for (const auto& m : t.mount_points) {
    if (m.type == config::MountType::virtio_fs) {
      // virtio-fs needs virtiofsd as the user (the Rust one, --sandbox none); Debian 12 ships
      // only QEMU's C virtiofsd, which runs as root (docs/vm-launch.md, Template settings).
      throw Error(fmt::format("template {}: mount-point {}: virtio-fs is not supported (no virtiofsd that runs as "
                              "the user on this system): use type: virtio-9p",
                              t.name, m.tag),
                  ErrorKind::config);
    }
  }
  if (t.remote_display) log_warning("template {}: remote-display is not supported yet: ignored", t.name);
}

// The template's persistent-drives, checked here (as the user, on the VM's node) so that a
// missing file is the job's error with its name rather than QEMU's.
// mmp: cluster drives are locked for the job here (drive_lock.hpp); `locks` gets the lock files.
std::vector<DriveSpec> persistent_drives(const config::Template& t, const VmSubstitutions& subst, const TaskEnv& task,
                                         std::vector<fs::path>& locks) {
  const std::string& node = task.node;
  std::vector<DriveSpec> drives;
  for (const config::PersistentDrive& d : t.persistent_drives) {
    const std::string path = subst.expand(d.path);
    const std::string what = fmt::format("template {}: persistent drive {}", t.name, path);
    if (path.empty() || path.front() != '/') throw Error(what + ": not an absolute path", ErrorKind::config);
    std::error_code ec;
    const auto status = fs::status(path, ec);
    if (ec || !(fs::is_regular_file(status) || fs::is_block_file(status))) {
      throw Error(fmt::format("{}: {} on {}", what, ec ? ec.message() : "not a file or block device", node),
                  ErrorKind::not_found);
    }
    if (d.backup) log_warning("{}: backup is not supported yet: ignored", what);
    if (t.disk_model == config::DiskModel::ide && drives.size() == 2) {
      throw Error(fmt::format("{}: an IDE VM has room for 2 persistent drives beside its image and seed "
                              "(use disk-model: virtio)",
                              what),
                  ErrorKind::config);
    }
    const BaseImage image = with_context(what, [&] { return inspect_image(path); });
    if (d.mmp == config::Mmp::cluster) {
      const fs::path dir = user_job_dir(task.home, task.job_id).parent_path() / "mmp";
      make_private_dir(task.home, dir);
      locks.push_back(with_context(what, [&] { return lock_drive_for_job(dir, path, task.job_id); }));
    }
    drives.push_back({path, image.format, d.cache, d.mmp == config::Mmp::yes});
  }
  return drives;
}



// The prolog cannot reach the user's terminal; for failures the job caused it leaves the
// reason in <rundir>/jobs/<id>/error (docs/prolog-epilog.md), and the VM's task says it here.
void report_prolog_error(const RunDirLayout& run, std::uint32_t job_id) {
  const fs::path file = run.error_file(job_id);
  std::string message;
  try {
    message = read_file(file, 64 * 1024);
  } catch (const Error&) {
    return;  // no error recorded
  }
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  throw Error(fmt::format("the node's vm-prolog could not prepare this job: {}", message), ErrorKind::config);
}

// The cluster as `vm boot` resolved it for every VM (resolved_cluster.hpp). A vm-launch started
// without vm boot (by hand, a test) resolves it from the configuration files itself.
ResolvedCluster resolved_cluster(const ClusterDef& def, const TaskEnv& task) {
  const fs::path file = user_job_dir(task.home, task.job_id) / kResolvedClusterFile;
  std::string text;
  try {
    text = read_file(file, 4 * 1024 * 1024);
  } catch (const Error& e) {
    if (e.errnum() != ENOENT) throw;
    log_info("no {}: the cluster's templates are read from the configuration files", file.string());
    return resolve_cluster(def, config::load_config(config::config_dirs_from_env()), {});
  }
  ResolvedCluster cluster = parse_resolved_cluster(text, file.string());
  if (cluster.definition != def.to_string()) {
    throw Error(fmt::format("{} describes cluster {}, but this step starts {}: start the cluster with vm boot",
                            file.string(), cluster.definition, def.to_string()),
                ErrorKind::config);
  }
  return cluster;
}

// The image the overlay sits on: a file, or the revision of a repository image (the newest
// unless the template names one), recorded in vm.json for `vm save`.
fs::path overlay_dir(const std::optional<std::string>& pcocc_tmpdir, const std::optional<std::string>& node_scratch,
                     const VmSubstitutions& subst, const VmPaths& paths) {
  fs::path dir;
  if (pcocc_tmpdir && !pcocc_tmpdir->empty() && pcocc_tmpdir->front() == '/') {
    dir = *pcocc_tmpdir;
  } else if (node_scratch) {
    dir = subst.expand(*node_scratch);
    if (!dir.is_absolute()) {
      throw Error(fmt::format("node-scratch {} is not an absolute path once expanded ({})", *node_scratch, dir.string()),
                  ErrorKind::config);
    }
  } else {
    return paths.vm_dir;
  }
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    fs::create_directories(dir.parent_path(), ec);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      throw Error::from_errno(fmt::format("cannot create the overlay directory {}", dir.string()), errno);
    }
  }
  return dir;
}

std::optional<OpenDisk> prepare_disk(const config::Template& t, const config::RepoConfig& repo_config,
                                     const VmSubstitutions& subst, const VmPaths& paths, const fs::path& dir,
                                     nlohmann::json& image_record, const RestoredLayer* restored) {
  remove_if_exists(paths.disk);  // an overlay of a slurm-vm before this one
  if (!t.image) return std::nullopt;
  const fs::path file = restored != nullptr ? restored->layer : with_context(fmt::format("template {}", t.name), [&] {
    const std::string image = subst.expand(*t.image);
    if (!is_repo_image(image)) {
      const fs::path f = resolve_image_file(image);
      image_record = {{"file", f.string()}};
      return f;
    }
    const auto repos = open_repos(repo_config, subst.user);
    const auto [repo, rev] = find_image(repos, parse_image_ref(image));
    image_record = {{"repo", repo->name()},    {"repo_path", repo->path().string()}, {"name", rev.name},
                    {"revision", rev.revision}, {"file", repo->top_layer(rev).string()}};
    log_info("image {}:{} revision {}", repo->name(), rev.name, rev.revision);
    return repo->top_layer(rev);
  });
  if (restored != nullptr) {
    // The image it came from, for `vm save --full`; its disk is now a layer over the checkpoint's.
    image_record = restored->image.is_object() ? restored->image : nlohmann::json::object();
    image_record["checkpoint_layer"] = file.string();
    image_record["checkpoint"] = restored->checkpoint.string();
  }
  const BaseImage base = inspect_image(file);
  const fs::path overlay = dir / fmt::format("svm-{}-{}.qcow2", paths.vm_dir.filename().string(), ::getpid());
  create_overlay(base, overlay);
  OpenDisk disk;
  // Not O_CLOEXEC: QEMU inherits both.
  disk.read_write = UniqueFd(::open(overlay.c_str(), O_RDWR | O_NOFOLLOW));
  disk.read_only = UniqueFd(::open(overlay.c_str(), O_RDONLY | O_NOFOLLOW));
  const int err = errno;
  ::unlink(overlay.c_str());
  if (!disk.read_write || !disk.read_only) {
    throw Error::from_errno(fmt::format("cannot open the disk overlay {}", overlay.string()), err);
  }
  log_debug("disk: {} (unlinked) over {} ({})", overlay.string(), base.path.string(), base.format);
  return disk;
}

HostKey prepare_seed(const config::Template& t, const TaskEnv& task, const VmSubstitutions& subst,
                     const VmPaths& paths, const std::string& hostname, const std::optional<VmNetwork>& network,
                     const std::vector<SeedMount>& mounts) {
  SeedInputs in;
  in.mounts = mounts;
  if (network && !network->nics.empty()) {
    SeedNetwork seed;
    for (const VmNic& nic : network->nics) {
      SeedNic s{nic.mac, {}, 0, {}, nic.mtu, nic.kind == NicKind::bridged};
      if (nic.kind == NicKind::l3 && !nic.ip.empty() && nic.prefix != 0) {
        s.ip = nic.ip;
        s.prefix = nic.prefix;
        s.gateway = nic.gateway;
      }
      seed.nics.push_back(std::move(s));
    }
    seed.hosts = network->hosts;
    in.network = std::move(seed);
  }
  in.instance_id = t.instance_id.value_or(fmt::format("{}-{}", task.job_id, hostname));
  in.hostname = hostname;
  in.description = fmt::format("{} of job {}", hostname, task.job_id);
  in.authorized_keys = read_user_public_keys(fs::path(task.home) / ".ssh");
  in.host_key = generate_host_key(paths.host_key, hostname);
  if (t.user_data) {
    if (const auto* inline_data = std::get_if<config::UserDataInline>(&*t.user_data)) {
      in.inline_user_data = inline_data->cloud_config;
    } else {
      const auto& file = std::get<config::UserDataFile>(*t.user_data);
      const fs::path path = subst.expand(file.path);
      if (!path.is_absolute()) {
        throw Error(fmt::format("template {}: user-data {} is a relative path: write it absolute",
                                t.name, path.string()),
                    ErrorKind::config);
      }
      in.user_data_file = UserDataFile{path.filename().string(), read_file(path)};
    }
  }
  const SeedFiles files = with_context(fmt::format("template {}", t.name),
                                       [&] { return build_seed_files(in, random_mime_boundary()); });
  write_seed_iso(files, paths.seed_dir, paths.seed_iso);
  return in.host_key;
}

}  // namespace slurmvm::launch
