// The fixed places and environment of slurm-vm on a compute node: the run directory's layout,
// defined once for the root helpers (which write it) and vm-launch (which reads what they
// wrote). docs/design.md, "on-disk contracts".
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace slurmvm {

// The node's run directory (tmpfs: a reboot clears it with the changes it describes).
// SLURM_VM_RUNDIR overrides it (tests, an admin's wrapper).
inline constexpr const char* kDefaultRunDir = "/run/slurm-vm";

// The system configuration the root helpers (vm-prolog, vm-epilog, vm-pkeyd) read: fixed, not
// the build's default for the CLI, so that a relocated build cannot move what root trusts.
// SLURM_VM_SYSCONFDIR overrides it (tests, an admin's wrapper).
inline constexpr const char* kDefaultSysconfDir = "/etc/slurm-vm";

// The PATH a root helper's children get (slurmd gives the prolog none); their argv[0] is an
// absolute path anyway.
inline constexpr const char* kChildPath = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";

// What is where in the run directory. Owner and mode are the writer's (docs/prolog-epilog.md).
struct RunDirLayout {
  std::filesystem::path run_dir = kDefaultRunDir;

  // jobs/: root's, 0711 (no user lists the node's jobs); jobs/<id>/ holds what vm-prolog
  // hands the job's VMs.
  std::filesystem::path jobs_dir() const { return run_dir / "jobs"; }
  std::filesystem::path job_dir(std::uint32_t job_id) const;
  // jobs/<id>/vms.json: the job's VMs on this node (vms_file.hpp), read by vm-launch.
  std::filesystem::path vms_file(std::uint32_t job_id) const { return job_dir(job_id) / "vms.json"; }
  // jobs/<id>/error: why vm-prolog refused the job, for vm-launch to tell the user.
  std::filesystem::path error_file(std::uint32_t job_id) const { return job_dir(job_id) / "error"; }

  // Root's only (0700): the ledgers, the node's job records, the jailed dnsmasq's pid and log
  // files, the node lock.
  std::filesystem::path ledger_dir() const { return run_dir / "ledger"; }  // <id>.jsonl
  std::filesystem::path state_dir() const { return run_dir / "state"; }
  std::filesystem::path state_file(std::uint32_t job_id) const;   // state/<id>.json
  std::filesystem::path flows_file(std::uint32_t job_id) const;   // state/<id>.flows: the job's flow text
  std::filesystem::path dnsmasq_dir() const { return run_dir / "dnsmasq"; }  // <id>.pid, <id>.log
  std::filesystem::path lock_file() const { return run_dir / "node.lock"; }
};

// The value of environment variable `name` (looked up through `env`) when it is set and
// not empty; an Error(config) when it is not an absolute, normal path (a relative or odd
// override is refused, never silently ignored).
std::optional<std::filesystem::path> absolute_path_override(
    const std::function<std::optional<std::string>(const std::string&)>& env, const std::string& name);

// The layout with SLURM_VM_RUNDIR applied (absolute_path_override).
RunDirLayout run_dir_layout_from_env(const std::function<std::optional<std::string>(const std::string&)>& env);

}  // namespace slurmvm
