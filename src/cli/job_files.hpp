// The files a virtual cluster keeps in the user's job directory (job_names.hpp:
// ~/.local/state/slurm-vm/job-<id>/), which the login node and the compute nodes share
// through the home directory:
//   cluster.json       written by `vm boot`: definition, nodes, placement
//   vm<N>/vm.json      written by vm-launch on the VM's node before QEMU starts
//   known_hosts        the VMs' host keys (from vm.json), for ssh's StrictHostKeyChecking
//   ssh_config         one Host entry per VM: node, reverse-NAT port, host key alias
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "job_selection.hpp"
#include "vm_record.hpp"

namespace slurmvm::cli {

struct ClusterFile {
  std::uint32_t job_id = 0;
  std::string definition;              // canonical, "tiny:2"
  std::vector<std::string> nodes;      // the job's nodes, in Slurm's order
  std::uint32_t cpus_per_vm = 0;
  std::vector<std::uint32_t> node_of_vm;  // index into nodes, per VM rank
  // A heterogeneous job (VMs of several sizes): a component on each node (its offset), where a
  // step on that node must go; empty for an ordinary job.
  std::map<std::string, std::uint32_t> node_components;

  // srun's options for a step on `node`: --jobid, and the component there (--het-group; srun
  // takes only the first component's job id, "not heterogeneous job leader" otherwise).
  std::vector<std::string> step_options(const std::string& node) const;
};

// What vm-launch reports about one VM (vm.json, vm_record.hpp), and where its disk overlay is.
struct VmFile : VmRecord {
  std::filesystem::path disk;  // <vm dir>/disk.qcow2
};

class JobDir {
 public:
  JobDir(std::filesystem::path home, std::uint32_t job_id);

  const std::filesystem::path& path() const noexcept { return path_; }
  std::uint32_t job_id() const noexcept { return job_id_; }
  std::filesystem::path vm_dir(std::uint32_t rank) const;

  // Creates the directory (0700) and its parents below the home directory (private_dir.hpp).
  void create() const;
  void write_cluster(const ClusterFile& cluster) const;
  // Throws Error(not_found) with a hint when the job has no cluster here.
  ClusterFile read_cluster() const;
  // nullopt while vm-launch has not written it yet.
  std::optional<VmFile> read_vm(std::uint32_t rank) const;

  // Once the VMs have stopped: removes what only a running VM needs from each VM directory
  // (the disk overlay, the seed, the sockets), keeping the logs and vm.json for a post-mortem.
  // Returns the bytes freed. Failures are logged, not thrown: the job is over.
  std::uintmax_t remove_vm_runtime_files(std::uint32_t count) const;

  // Writes known_hosts and ssh_config from the VMs' files.
  void write_ssh_files(const std::vector<VmFile>& vms) const;
  std::filesystem::path ssh_config() const { return path_ / "ssh_config"; }
  std::filesystem::path known_hosts() const { return path_ / "known_hosts"; }

 private:
  std::filesystem::path home_;
  std::filesystem::path path_;
  std::uint32_t job_id_;
};

// write_file_atomic (atomic_file.hpp) as the CLI writes its files: mode 0600, not fsync'ed
// (they describe a job that a crash ends anyway).
void write_file_atomically(const std::filesystem::path& path, const std::string& content);

// `vm boot`'s job: -j JOBID when given (0 = not given), else SLURM_JOB_ID inside an
// allocation; Error(usage) with a hint otherwise. Other verbs: resolve_job (job_selection.hpp).
std::uint32_t resolve_job_id(std::uint32_t option_job_id);

// This user's login name (passwd database): squeue's --user, an image revision's owner.
std::string user_name();

// The user's home directory: $HOME, else the password database.
std::filesystem::path home_directory();

// The directory of the job `selection` means (resolve_job, job_selection.hpp), in the home of
// its owner (--user). Use this, not JobDir(home_directory(), resolve_job(...)), whose arguments
// C++ may evaluate in either order.
JobDir selected_job_dir(const JobSelection& selection);

// "vm3" -> 3; Error(usage) for anything else.
std::uint32_t parse_vm_name(const std::string& name);

// read_vm(), or Error(not_found) saying the VM has not started (yet).
VmFile require_vm(const JobDir& dir, std::uint32_t rank);

// For verbs that act on one VM: the job (job_selection.hpp), its cluster and the VM
// `vm_text` names. Error(usage) when it names several ("vm console takes one VM").
struct OneVm {
  JobDir dir;
  ClusterFile cluster;
  VmFile vm;
};
OneVm find_one_vm(const JobSelection& job, const std::string& vm_text, std::string_view verb);

}  // namespace slurmvm::cli
