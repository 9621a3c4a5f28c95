// A VM template of templates.yaml, pcocc's keys and meaning (pcocc-anatomy §2.1), after
// inheritance and defaults: every member holds the value a VM of this template gets. Strings
// that may hold %{...} substitutions (image, paths, custom-args, qemu-bin, kernel) are kept as
// written; see substitutions.hpp. settings() tells, key by key, where each value came from.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/origin.hpp"

namespace slurmvm::config {

enum class DiskModel { virtio, virtio_scsi, ide };
enum class DiskCache { writeback, none, unsafe, writethrough, directsync };
enum class MountType { virtio_9p, virtio_fs };
// Multi-mount protection of a persistent drive: attached once (yes), by the VMs of one cluster
// only (cluster), or unchecked (no).
enum class Mmp { yes, cluster, no };
enum class RemoteDisplay { spice };

std::string_view to_string(DiskModel model) noexcept;
std::string_view to_string(DiskCache cache) noexcept;
std::string_view to_string(MountType type) noexcept;
std::string_view to_string(Mmp mmp) noexcept;
std::string_view to_string(RemoteDisplay display) noexcept;

// A host directory exported to the VMs under `tag`.
struct MountPoint {
  std::string tag;
  std::string path;
  bool readonly = false;
  MountType type = MountType::virtio_9p;
};

// A raw disk file attached directly (not copy-on-write): changes persist.
struct PersistentDrive {
  std::string path;
  Mmp mmp = Mmp::yes;
  DiskCache cache = DiskCache::writeback;
  std::optional<std::string> backup;
};

// cloud-init user-data: a file copied as is, or a cloud-config mapping written in the template.
struct UserDataFile {
  std::string path;
};
struct UserDataInline {
  nlohmann::json cloud_config;  // an object, typed as cloud-init will read it (yaml_json.hpp)
};
using UserData = std::variant<UserDataFile, UserDataInline>;

// Where one setting's value comes from.
struct SettingSource {
  std::string defined_in;      // the template declaring the key; empty when none does
  std::filesystem::path file;  // where it is declared; empty when nowhere
  int line = 0;
  bool inherited = false;  // declared by an ancestor rather than by the template itself
  bool is_default = true;  // no declaration gives a value (absent, empty or `image: false`)
};

// One row of `vm template show`.
struct ResolvedSetting : SettingSource {
  std::string key;
  nlohmann::json value;  // null when unset
};

// Every key of templates.yaml, in the order settings() reports them (docs/config.md).
std::span<const std::string_view> template_setting_keys() noexcept;

struct Template {
  std::string name;
  Origin origin = Origin::system;
  std::filesystem::path file;
  int line = 0;
  std::optional<std::string> parent;    // `inherits`, as written
  std::optional<Origin> parent_origin;  // where that parent was found

  std::optional<std::string> image;  // [REPO:]NAME[@REV], or a directory when it holds a '/'
  std::string resource_set;
  std::string description;  // not inherited
  std::optional<UserData> user_data;
  std::optional<std::string> instance_id;  // unset: a random one per cluster
  std::vector<MountPoint> mount_points;
  std::vector<PersistentDrive> persistent_drives;
  std::vector<std::string> custom_args;  // appended to QEMU's arguments
  std::string qemu_bin = "qemu-system-x86_64";
  std::string nic_model = "virtio-net";
  DiskModel disk_model = DiskModel::virtio;
  DiskCache disk_cache = DiskCache::unsafe;  // of the copy-on-write image
  std::string machine_type = "pc";
  std::optional<std::string> cpu_model;  // unset: "host" when KVM is usable
  int emulator_cores = 0;                // cores kept for QEMU's own threads
  bool bind_vcpus = true;
  bool full_node = false;
  std::optional<RemoteDisplay> remote_display;
  std::optional<std::string> kernel;
  // slurm-vm: a text the guest prints on its serial console once it is ready; `vm alloc` waits
  // for it instead of SSH (VMs with no reverse-NAT port, images without sshd).
  std::optional<std::string> ready_marker;

  // One per key of template_setting_keys(), same order; filled by the loader. Empty means
  // every value is a default.
  std::vector<SettingSource> sources;

  // Every key with its current value and source, in template_setting_keys() order.
  std::vector<ResolvedSetting> settings() const;
};

}  // namespace slurmvm::config
