// vm-launch's sequence (launcher.hpp).
#include "launch/launcher.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <variant>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cluster_def.hpp"
#include "config/config.hpp"
#include "drive_lock.hpp"
#include "error.hpp"
#include "node_layout.hpp"
#include "image_repo.hpp"
#include "overrides.hpp"
#include "job_names.hpp"
#include "launch/image.hpp"
#include "launch/job_dir.hpp"
#include "launch/kvm_probe.hpp"
#include "launch/memory.hpp"
#include "launch/network_map.hpp"
#include "launch/pinning.hpp"
#include "launch/placement.hpp"
#include "launch/qemu_argv.hpp"
#include "launch/qemu_binary.hpp"
#include "launch/seed.hpp"
#include "launch/seed_iso.hpp"
#include "launch/ssh_keys.hpp"
#include "launch/vm_info.hpp"
#include "launch/vm_substitutions.hpp"
#include "log.hpp"
#include "subprocess.hpp"

namespace slurmvm::launch {
namespace {

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


// A QEMU of an earlier launch of this VM that still runs on this node would lose its sockets
// and its disk to this one: refuse instead. (On another node, the shared vm.json cannot tell.)
void check_not_running(const VmPaths& paths, const std::string& node) {
  nlohmann::json old;
  try {
    old = nlohmann::json::parse(read_file(paths.vm_json, 1024 * 1024));
  } catch (const std::exception&) {
    return;  // none, or unreadable: nothing to protect
  }
  if (!old.is_object() || old.value("node", "") != node || !old["pid"].is_number_integer()) return;
  const long pid = old["pid"].get<long>();
  if (pid <= 0 || pid == static_cast<long>(::getpid())) return;
  std::string comm;
  try {
    comm = read_file(fmt::format("/proc/{}/comm", pid), 4096);
  } catch (const Error&) {
    return;  // gone
  }
  if (comm.starts_with("qemu")) {
    throw Error(fmt::format("this VM already runs on this node (QEMU pid {}, {}): stop it first",
                            pid, paths.vm_json.string()),
                ErrorKind::usage);
  }
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

// The image the overlay sits on: a file, or the revision of a repository image (the newest
// unless the template names one), recorded in vm.json for `vm save`.
std::optional<fs::path> prepare_disk(const config::Template& t, const config::Config& cfg, const VmSubstitutions& subst,
                                     const VmPaths& paths, nlohmann::json& image_record) {
  if (!t.image) {
    remove_if_exists(paths.disk);
    return std::nullopt;
  }
  const fs::path file = with_context(fmt::format("template {}", t.name), [&] {
    const std::string image = subst.expand(*t.image);
    if (!is_repo_image(image)) {
      const fs::path f = resolve_image_file(image);
      image_record = {{"file", f.string()}};
      return f;
    }
    const auto repos = open_repos(cfg.repos, subst.user);
    const auto [repo, rev] = find_image(repos, parse_image_ref(image));
    image_record = {{"repo", repo->name()},    {"repo_path", repo->path().string()}, {"name", rev.name},
                    {"revision", rev.revision}, {"file", repo->top_layer(rev).string()}};
    log_info("image {}:{} revision {}", repo->name(), rev.name, rev.revision);
    return repo->top_layer(rev);
  });
  const BaseImage base = inspect_image(file);
  create_overlay(base, paths.disk);
  log_debug("disk: {} over {} ({})", paths.disk.string(), base.path.string(), base.format);
  return paths.disk;
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

}  // namespace

void launch_vm(const LaunchOptions& options, const TaskEnv& task, const std::vector<int>& affinity) {
  const config::Config cfg = config::load_config(config::config_dirs_from_env());
  const ClusterDef def = ClusterDef::parse(options.definition);
  if (task.rank >= def.vm_count()) {
    throw Error(fmt::format("this task is rank {} but {} defines {} VMs: the step must run one task "
                            "per VM",
                            task.rank, def.to_string(), def.vm_count()),
                ErrorKind::usage);
  }
  // A copy: the overrides of the command line concern this template only (overrides.hpp).
  config::Template tpl = cfg.get_template(def.template_of(task.rank));
  if (const auto o = config::process_env(kOverridesEnv); o && !o->empty()) {
    try {
      apply_overrides(tpl, nlohmann::json::parse(*o));
    } catch (const nlohmann::json::exception& e) {
      throw Error(fmt::format("{} is not JSON: {}", kOverridesEnv, e.what()), ErrorKind::config);
    }
  }
  check_supported(tpl);
  const std::string hostname = fmt::format("vm{}", task.rank);

  const AccelChoice accel = choose_accelerator(probe_kvm());
  log_info("{}", accel.reason);
  const MemoryPlan memory = plan_vm_memory({.cpus = task.cpus,
                                            .mem_per_cpu_mib = task.mem_per_cpu_mib,
                                            .mem_per_node_mib = task.mem_per_node_mib,
                                            .tasks_on_node = task.tasks_on_node,
                                            .tcg = !accel.kvm});
  log_info("memory: {} MiB for the task ({}), {} MiB kept for QEMU, {} MiB for the VM",
           memory.task_mib, memory.rule, memory.reserve_mib, memory.vm_mib);

  std::optional<VmNetwork> network;
  if (options.network) {
    const RunDirLayout run = run_dir_layout_from_env(config::process_env);
    report_prolog_error(run, task.job_id);
    network = load_vm_network(run, task.job_id, task.rank);
    // The prolog planned the NICs from the resource set the template had at submission.
    if (!network->resource_set.empty() && network->resource_set != tpl.resource_set) {
      throw Error(fmt::format("template {} now uses resource set {}, but the job's networks were set up "
                              "for {} when it was submitted: submit the job again",
                              tpl.name, tpl.resource_set, network->resource_set),
                  ErrorKind::config);
    }
  }

  const fs::path job_dir = user_job_dir(task.home, task.job_id);
  make_private_dir(task.home, job_dir);
  const VmPaths paths = vm_paths(job_dir, task.rank);
  make_private_dir(task.home, paths.vm_dir);
  check_not_running(paths, task.node);

  const VmSubstitutions subst{config::SubstitutionContext{task.user, task.home, config::process_env},
                              job_dir.string(), task.user, task.rank};

  VmSpec spec;
  spec.qemu_bin = resolve_qemu_binary(subst.expand(tpl.qemu_bin));
  spec.name = hostname;
  spec.machine_type = tpl.machine_type;
  spec.kvm = accel.kvm;
  spec.cpu_model = tpl.cpu_model.value_or(default_cpu_model(accel.kvm));
  const std::uint32_t vcpus = vcpu_count(tpl, task);
  spec.vcpus = vcpus;
  spec.memory_mib = memory.vm_mib;
  nlohmann::json image_record;
  spec.disk = prepare_disk(tpl, cfg, subst, paths, image_record);
  spec.disk_model = tpl.disk_model;
  spec.disk_cache = tpl.disk_cache;
  spec.seed_iso = paths.seed_iso;
  // The template's mount-points: exported by QEMU, mounted by the guest at the same path.
  std::vector<SeedMount> seed_mounts;
  for (const auto& m : tpl.mount_points) {
    const std::string path = subst.expand(m.path);
    if (path.empty() || path.front() != '/') {
      throw Error(fmt::format("template {}: mount-point {}: {} is not an absolute path", tpl.name, m.tag, path),
                  ErrorKind::config);
    }
    if (!fs::is_directory(path)) {
      throw Error(fmt::format("template {}: mount-point {}: {} is not a directory on {}", tpl.name, m.tag, path,
                              task.node),
                  ErrorKind::not_found);
    }
    // Tags end up in QEMU's option string and the guest's fstab.
    if (m.tag.empty() || m.tag.size() > 31 ||
        m.tag.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != std::string::npos) {
      throw Error(fmt::format("template {}: mount-point tag \"{}\": 1 to 31 letters, digits, '_' or '-'", tpl.name,
                              m.tag),
                  ErrorKind::config);
    }
    spec.mounts.push_back({m.tag, path, m.readonly});
    seed_mounts.push_back({m.tag, path, m.readonly});
  }
  std::vector<fs::path> drive_locks;
  spec.drives = persistent_drives(tpl, subst, task, drive_locks);
  const HostKey host_key = prepare_seed(tpl, task, subst, paths, hostname, network, seed_mounts);
  spec.qmp_socket = socket_path_for_qemu(paths.qmp);
  spec.console_socket = socket_path_for_qemu(paths.console);
  spec.console_log = paths.console_log.string();
  spec.agent_socket = socket_path_for_qemu(paths.agent);
  if (network) {
    for (const VmNic& nic : network->nics) spec.nics.push_back(NicSpec{nic.tap, nic.mac, tpl.nic_model});
  }
  if (tpl.kernel) {
    const std::string kernel = subst.expand(*tpl.kernel);
    if (kernel.empty() || kernel.front() != '/') {
      throw Error(fmt::format("template {}: kernel {} is not an absolute path", tpl.name, kernel), ErrorKind::config);
    }
    spec.kernel = kernel;
  }
  for (const std::string& arg : tpl.custom_args) spec.custom_args.push_back(subst.expand(arg));
  const std::vector<std::string> argv = build_qemu_argv(spec);

  // Sockets left by an earlier QEMU: the pinning helper must only ever see the new ones.
  for (const fs::path& s : {paths.qmp, paths.console, paths.agent}) remove_if_exists(s);

  VmInfo info{.job_id = task.job_id,
                    .rank = task.rank,
                    .step_id = task.step_id,
                    .node = task.node,
                    .pid = static_cast<long>(::getpid()),
                    .network = network,
                    .hostname = hostname,
                    .host_key_pub = host_key.public_key,
                    .paths = paths,
                    .vcpus = vcpus,
                    .memory_mib = memory.vm_mib,
                    .accel = accel.kvm ? "kvm" : "tcg",
                    .no_reboot = std::find(argv.begin(), argv.end(), "-no-reboot") != argv.end(),
                    .image = image_record,
                    .vcpu_cpus = {},
                    .emulator_cpus = {},
                    .numa_nodes = {},
                    .persistent_drives = !tpl.persistent_drives.empty(),
                    .drive_locks = {}};
  // Before exec: the memory policy and the emulator threads' affinity are inherited by QEMU.
  const Placement placement = place_vm(tpl, task, affinity, vcpus);
  if (!placement.plan.emulator_cpus.empty()) {
    if (const int err = set_process_affinity(placement.plan.emulator_cpus); err != 0) {
      log_warning("emulator threads not confined to CPU {}: {}", fmt::join(placement.plan.emulator_cpus, ","),
                  std::strerror(err));
    }
  }
  if (placement.pin) info.vcpu_cpus = placement.plan.cpus_of_vcpu;
  info.emulator_cpus = placement.plan.emulator_cpus;
  info.numa_nodes = placement.numa_nodes;
  for (const fs::path& l : drive_locks) info.drive_locks.push_back(l.string());
  write_file_atomic(paths.vm_json, vm_info_json(info).dump(2) + "\n", 0600, {}, Durability::flushed);

  // QEMU's working directory: where relative socket names (long home paths) resolve.
  if (::chdir(paths.vm_dir.c_str()) != 0) {
    throw Error::from_errno(fmt::format("cannot enter {}", paths.vm_dir.string()), errno);
  }
  start_pinning_helper({.qmp_socket = paths.qmp, .bind_vcpus = placement.pin, .plan = placement.plan});

  log_info("exec {}", format_argv(argv));
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  std::fflush(nullptr);
  ::execv(cargv[0], cargv.data());
  const int e = errno;
  ::unlink(paths.vm_json.c_str());
  throw Error::from_errno(fmt::format("cannot run {}", argv[0]), e);
}

}  // namespace slurmvm::launch
