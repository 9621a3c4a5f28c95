// vm-launch's sequence (launcher.hpp).
#include "launch/launcher.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
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
#include "image_repo.hpp"
#include "job_names.hpp"
#include "node_layout.hpp"
#include "resolved_cluster.hpp"
#include "launch/image.hpp"
#include "launch/job_dir.hpp"
#include "kvm_probe.hpp"
#include "launch/memlock.hpp"
#include "launch/memory.hpp"
#include "launch/network_map.hpp"
#include "launch/pinning.hpp"
#include "launch/placement.hpp"
#include "launch/qemu_argv.hpp"
#include "launch/qemu_binary.hpp"
#include "launch/restore.hpp"
#include "launch/seed.hpp"
#include "launch/seed_iso.hpp"
#include "launch/ssh_keys.hpp"
#include "launch/vm_info.hpp"
#include "launch/vm_inputs.hpp"
#include "launch/vm_substitutions.hpp"
#include "log.hpp"
#include "subprocess.hpp"
#include "vm_record.hpp"

namespace slurmvm::launch {
namespace {

namespace fs = std::filesystem;

// A QEMU of an earlier launch of this VM that still runs on this node would lose its sockets
// and its disk to this one: refuse instead. (On another node, the shared vm.json cannot tell.)
void check_not_running(const VmPaths& paths, const std::string& node) {
  VmRecord old;
  try {
    old = parse_vm_record(read_file(paths.vm_json, 1024 * 1024), paths.vm_json.string());
  } catch (const Error&) {
    return;  // none, or unreadable: nothing to protect
  }
  if (old.node != node) return;
  const long pid = static_cast<long>(old.pid);
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

// Best effort: the error is also on stderr, and a failure to record it must not hide it.
void record_launch_failure(const VmPaths& paths, const std::string& node, const std::string& message) noexcept {
  try {
    write_file_atomic(paths.launch_error, to_json(LaunchFailure{node, message}).dump() + "\n", 0600, {},
                      Durability::flushed);
  } catch (const std::exception& e) {
    log_warning("{}", e.what());
  }
}

[[noreturn]] void prepare_and_exec(const LaunchOptions& options, const TaskEnv& task, const std::vector<int>& affinity,
                                   const ClusterDef& def, const fs::path& job_dir, const VmPaths& paths);

}  // namespace

void launch_vm(const LaunchOptions& options, const TaskEnv& task, const std::vector<int>& affinity) {
  const ClusterDef def = ClusterDef::parse(options.definition);
  if (task.rank >= def.vm_count()) {
    throw Error(fmt::format("this task is rank {} but {} defines {} VMs: the step must run one task "
                            "per VM",
                            task.rank, def.to_string(), def.vm_count()),
                ErrorKind::usage);
  }
  const fs::path job_dir = user_job_dir(task.home, task.job_id);
  make_private_dir(task.home, job_dir);
  const VmPaths paths = vm_paths(job_dir, task.rank);
  make_private_dir(task.home, paths.vm_dir);
  remove_if_exists(paths.launch_error);  // an earlier launch's (a requeued job)
  try {
    prepare_and_exec(options, task, affinity, def, job_dir, paths);
  } catch (const Error& e) {
    record_launch_failure(paths, task.node, e.what());
    throw;
  } catch (const std::exception& e) {
    record_launch_failure(paths, task.node, fmt::format("internal error: {}", e.what()));
    throw;
  }
}

namespace {

void prepare_and_exec(const LaunchOptions& options, const TaskEnv& task, const std::vector<int>& affinity,
                      const ClusterDef& def, const fs::path& job_dir, const VmPaths& paths) {
  const ResolvedCluster cluster = resolved_cluster(def, task);
  const config::Template& tpl = cluster.get(def.template_of(task.rank));
  check_supported(tpl);
  const std::string hostname = fmt::format("vm{}", task.rank);

  // vm alloc -r: this VM resumes from its checkpoint, whose files are checked first.
  const std::optional<RestoredVm> restore = open_restore(std::getenv(kRestoreEnv), def, task.rank);

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
  std::optional<RestoredLayer> restored_layer;
  if (restore) {
    spec.memory_mib = check_restore_fits(restore->vm, restore->network_id, vcpus, accel.kvm, memory.vm_mib,
                                         network ? network->network_id : 0);
    spec.incoming_fd = restore->memory.get();
    if (restore->disk) restored_layer = RestoredLayer{*restore->disk, restore->dir, restore->vm.image};
  }
  nlohmann::json image_record;
  // Held until exec: QEMU inherits them (the overlay itself is already unlinked).
  std::optional<std::string> pcocc_tmpdir;
  if (const char* v = std::getenv("PCOCC_TMPDIR")) pcocc_tmpdir = v;
  const std::optional<OpenDisk> disk =
      prepare_disk(tpl, cluster.repos, subst, paths, overlay_dir(pcocc_tmpdir, cluster.node_scratch, subst, paths),
                   image_record, restored_layer ? &*restored_layer : nullptr);
  if (disk) {
    spec.disk = std::string(kDiskFdSet);
    spec.disk_fds = std::make_pair(disk->read_write.get(), disk->read_only.get());
  }
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
    for (const auto& d : network->pci) spec.pci_devices.push_back(d.bdf);
    // Before QEMU: its own failure would say ENOMEM from vfio_dma_map and nothing of limits.
    ensure_memlock(spec.memory_mib, spec.pci_devices.size(), task.node);
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
                    // A restored guest kept the host key it had (its seed is not read again).
                    .host_key_pub = restore ? restore->vm.host_key_pub : host_key.public_key,
                    .paths = paths,
                    .vcpus = vcpus,
                    .memory_mib = spec.memory_mib,
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
  start_pinning_helper(
      {.qmp_socket = paths.qmp, .bind_vcpus = placement.pin, .plan = placement.plan, .incoming = restore.has_value()});

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

}  // namespace
}  // namespace slurmvm::launch
