// A virtual cluster's checkpoint (`vm ckpt DIR`, restored by `vm alloc -r DIR` and `vm batch
// -r DIR`): one directory holding, for each VM, its disk as a qcow2 layer over the image it
// booted from (QEMU's drive-backup, sync=top) and its memory and device state as QEMU's
// migration stream, taken while every VM of the cluster was paused; and checkpoint.json,
// written last, which describes the cluster as it was resolved, its network identity and each
// file's size and sha256. A directory without checkpoint.json is a partial checkpoint, one
// whose files differ from it a corrupt one: both are refused (docs/checkpoint.md).
//
// A checkpoint is built in a hidden sibling directory and renamed into place once complete, so
// an interrupted `vm ckpt` never leaves a directory that looks like a checkpoint, and `-F`
// replaces a good checkpoint only with another good one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace slurmvm {

inline constexpr const char* kCheckpointManifest = "checkpoint.json";
inline constexpr int kCheckpointFormat = 1;
// `vm alloc/batch -r` -> `vm boot --restore` -> vm-launch: the checkpoint directory (absolute).
inline constexpr const char* kRestoreEnv = "SLURM_VM_RESTORE";
// `vm alloc/batch -r` -> the SPANK plugin at submission -> the prolog (SPANK_VM_NETWORK_ID):
// the network identity the checkpointed cluster had, so that every VM keeps its MAC and IP
// addresses (addressing.hpp), which live on in the guests' memory.
inline constexpr const char* kNetworkIdEnv = "SLURM_VM_NETWORK_ID";
// In the job directory once `vm ckpt` has committed a checkpoint of it, holding the checkpoint's
// path: `vm boot` reports the cluster's end as a checkpoint, not as a failure.
inline constexpr const char* kCheckpointedMarker = "checkpointed";

struct CheckpointFile {
  std::string name;  // relative to the checkpoint directory
  std::uint64_t size = 0;
  std::string sha256;
};

struct CheckpointVm {
  std::uint32_t rank = 0;
  std::uint32_t vcpus = 0;
  std::uint64_t memory_mib = 0;
  std::string accel;         // "kvm" or "tcg": a migration stream needs the same on restore
  std::string mac;           // its NIC on the job's L3 network; empty without one
  std::string host_key_pub;  // the guest keeps its host key: `vm ssh` must keep trusting it
  nlohmann::json image;      // what its disk layer sits on, as vm.json's "image"
  std::optional<CheckpointFile> disk;  // none for a VM without an image
  CheckpointFile memory;
};

struct Checkpoint {
  std::uint32_t job_id = 0;  // the job that was checkpointed
  std::string created;       // UTC, ISO 8601
  std::uint32_t network_id = 0;  // 0: the cluster had no L3 network
  nlohmann::json resolved;       // the cluster's templates as resolved (resolved_cluster.hpp)
  std::string definition;        // canonical, as in `resolved`
  std::vector<CheckpointVm> vms;  // by rank, one per VM of the definition
};

// The files of one VM in the directory.
std::string checkpoint_disk_name(std::uint32_t rank);    // "disk-vm3.qcow2"
std::string checkpoint_memory_name(std::uint32_t rank);  // "memory-vm3"

// {"name", "size", "sha256"}; the inverse throws Error (not ours) when the name is not
// `expected_name`: a manifest or a node's report names only the files of their place.
nlohmann::json to_json(const CheckpointFile& f);
CheckpointFile parse_checkpoint_file(const nlohmann::json& j, const std::string& expected_name);

nlohmann::json to_json(const Checkpoint& c);
// The inverse; Error(config) naming `source` and what is wrong (a foreign or damaged file).
Checkpoint parse_checkpoint(std::string_view text, std::string_view source);

// Reads DIR/checkpoint.json. Error(not_found) when DIR is not a checkpoint, or only part of one.
Checkpoint read_checkpoint(const std::filesystem::path& dir);

// Checks that `file` is in `dir` with its recorded size, and, with `hash`, its sha256 (reads it
// whole). Error(config) saying which file differs and that the checkpoint is damaged.
void verify_checkpoint_file(const std::filesystem::path& dir, const CheckpointFile& file, bool hash);

// The file's size and sha256 as found now (after it was written and synced).
CheckpointFile describe_checkpoint_file(const std::filesystem::path& dir, const std::string& name);

// A restored VM's disk sits on its checkpoint's layer: `layer`, the new checkpoint's copy of
// its overlay (sync=top), is rebased (safely: the data of `checkpoint_layer` is merged in) onto
// what that layer sat on, so that the new checkpoint needs nothing of the old one, which -F may
// replace.
void rebase_off_checkpoint(const std::filesystem::path& layer, const std::filesystem::path& checkpoint_layer);

// Where `vm ckpt DIR` builds the checkpoint: a hidden sibling of DIR, unique to this process.
std::filesystem::path checkpoint_staging_dir(const std::filesystem::path& dir);

// Whether DIR may be replaced by -F: a checkpoint (complete or not) or an empty directory;
// never someone's other files. Error(usage) saying why not.
void check_replaceable(const std::filesystem::path& dir);

// Moves the complete checkpoint `staging` (its manifest written) to `dir`. An existing `dir`
// is replaced only with `force`, and only once the new one is in place: a failure at any point
// leaves the old checkpoint or the new one, never neither. Error(usage) when `dir` exists and
// `force` is false.
void commit_checkpoint(const std::filesystem::path& staging, const std::filesystem::path& dir, bool force);

}  // namespace slurmvm
