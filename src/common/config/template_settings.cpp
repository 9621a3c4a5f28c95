// The table of templates.yaml keys (template_settings.hpp): how each value is read from YAML and
// shown as JSON, and Template::settings(), which walks the table.
#include "config/template_settings.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <limits>

#include "config/enum_names.hpp"
#include "config/template_json_values.hpp"
#include "config/yaml_json.hpp"

namespace slurmvm::config {
namespace {

// ---- reading values -------------------------------------------------------------------------

std::string read_mount_tag(const Mapping::Entry& entry) {
  if (!valid_mount_tag(entry.name)) {
    entry.key.fail("invalid mount tag (expected 1 to 36 letters, digits, '_', '-' or '.')");
  }
  return entry.name;
}

// `tag: {path, readonly, type}`, or pcocc's older `tag: /path`.
MountPoint read_mount_point(const Mapping::Entry& entry) {
  MountPoint mount{read_mount_tag(entry), {}, false, MountType::virtio_9p};
  if (entry.value.is_scalar()) {
    mount.path = entry.value.as_expandable_string();
    return mount;
  }
  if (!entry.value.is_map())
    entry.value.fail_expected("a path or a mapping {path, readonly, type}");
  Mapping m = entry.value.as_map();
  mount.path = m.require("path").as_expandable_string();
  if (auto v = m.get("readonly")) mount.readonly = v->as_bool();
  if (auto v = m.get("type")) mount.type = v->as_enum<MountType>(kMountTypes);
  m.reject_unknown_keys();
  return mount;
}

// pcocc's YAML had yes/no as booleans and cluster as a string; quoted 'no' appears in its docs.
Mmp read_mmp(const Value& v) {
  if (v.is_scalar()) {
    if (v.node().Scalar() == "cluster") return Mmp::cluster;
    if (auto b = parse_yaml_bool(v.node().Scalar())) return *b ? Mmp::yes : Mmp::no;
  }
  v.fail_expected("yes, no or cluster");
}

// `/path: {mmp, cache, backup}`
PersistentDrive read_drive_with_options(const Mapping::Entry& entry) {
  PersistentDrive drive;
  drive.path = entry.key.as_expandable_string();
  Mapping m = entry.value.as_map();
  if (auto v = m.get("mmp")) drive.mmp = read_mmp(*v);
  if (auto v = m.get("cache")) drive.cache = v->as_enum<DiskCache>(kDiskCaches);
  if (auto v = m.get("backup")) {
    drive.backup = v->as_nonempty_string();
    // pcocc 0.7.5 parsed it and never read it either (Templates.py only sets its default).
    v->warn_no_effect("no copy of the drive is made; save it with `vm save` or copy the file after the job");
  }
  m.reject_unknown_keys();
  return drive;
}

// `- /path`, or `- /path: {mmp, cache, backup}`.
PersistentDrive read_drive(const Value& item) {
  if (item.is_scalar()) {
    PersistentDrive drive;
    drive.path = item.as_expandable_string();
    return drive;
  }
  if (item.is_map()) {
    const Mapping outer = item.as_map();
    if (outer.entries().size() == 1) return read_drive_with_options(outer.entries().front());
  }
  // A common slip: options at the indentation of the path become sibling keys of the path.
  item.fail_expected(
      "a path, or a mapping with one key, the path, holding its options "
      "(indented under the path)");
}

bool parse_image(const Value& v, Template& t) {
  if (v.is_false()) return false;  // pcocc: `image: false` means no image
  t.image = v.as_expandable_string();
  return true;
}

bool parse_resource_set(const Value& v, Template& t) {
  t.resource_set = v.as_nonempty_string();
  return true;
}

bool parse_inherits(const Value& v, Template& t) {
  t.parent = v.as_nonempty_string();
  return true;
}

bool parse_description(const Value& v, Template& t) {
  t.description = v.as_string();
  return true;
}

bool parse_user_data(const Value& v, Template& t) {
  if (v.is_scalar()) {
    t.user_data = UserDataFile{v.as_expandable_string()};
  } else if (v.is_map()) {
    t.user_data = UserDataInline{yaml_to_json(v)};
  } else {
    v.fail_expected("a file path or an inline cloud-config mapping");
  }
  return true;
}

bool parse_instance_id(const Value& v, Template& t) {
  t.instance_id = v.as_nonempty_string();
  return true;
}

bool parse_mount_points(const Value& v, Template& t) {
  t.mount_points.clear();
  for (const auto& entry : v.as_map().entries()) t.mount_points.push_back(read_mount_point(entry));
  return true;
}

bool parse_persistent_drives(const Value& v, Template& t) {
  t.persistent_drives.clear();
  for (const Value& item : v.as_list()) {
    PersistentDrive drive = read_drive(item);
    const bool twice = std::any_of(t.persistent_drives.begin(), t.persistent_drives.end(),
                                   [&](const PersistentDrive& d) { return d.path == drive.path; });
    if (twice) item.fail(fmt::format("drive \"{}\" is listed twice", drive.path));
    t.persistent_drives.push_back(std::move(drive));
  }
  return true;
}

bool parse_custom_args(const Value& v, Template& t) {
  t.custom_args.clear();
  for (const Value& item : v.as_list()) t.custom_args.push_back(item.as_expandable_string());
  return true;
}

bool parse_qemu_bin(const Value& v, Template& t) {
  t.qemu_bin = v.as_expandable_string();
  return true;
}

bool parse_nic_model(const Value& v, Template& t) {
  t.nic_model = v.as_nonempty_string();
  return true;
}

bool parse_disk_model(const Value& v, Template& t) {
  t.disk_model = v.as_enum<DiskModel>(kDiskModels);
  return true;
}

bool parse_disk_cache(const Value& v, Template& t) {
  t.disk_cache = v.as_enum<DiskCache>(kDiskCaches);
  return true;
}

bool parse_machine_type(const Value& v, Template& t) {
  t.machine_type = v.as_nonempty_string();
  return true;
}

bool parse_cpu_model(const Value& v, Template& t) {
  t.cpu_model = v.as_nonempty_string();
  return true;
}

bool parse_emulator_cores(const Value& v, Template& t) {
  t.emulator_cores = v.as_int32(0, std::numeric_limits<int>::max());
  return true;
}

bool parse_bind_vcpus(const Value& v, Template& t) {
  t.bind_vcpus = v.as_bool();
  return true;
}

bool parse_full_node(const Value& v, Template& t) {
  t.full_node = v.as_bool();
  return true;
}

bool parse_remote_display(const Value& v, Template& t) {
  t.remote_display = v.as_enum<RemoteDisplay>(kRemoteDisplays);
  v.warn_no_effect("the VM gets no SPICE display; `vm console` attaches to its serial console");
  return true;
}

bool parse_kernel(const Value& v, Template& t) {
  t.kernel = v.as_expandable_string();
  return true;
}

bool parse_ready_marker(const Value& v, Template& t) {
  std::string marker = v.as_nonempty_string();
  // Matched within one console line: a line break could never match.
  if (marker.find_first_of("\r\n") != std::string::npos || marker.size() > 200) {
    v.fail_expected("one line of at most 200 characters the guest prints on its console");
  }
  t.ready_marker = std::move(marker);
  return true;
}

// ---- the table ------------------------------------------------------------------------------

template <auto Member>
void copy_member(const Template& from, Template& to) {
  to.*Member = from.*Member;
}

template <auto Member>
nlohmann::json member_json(const Template& t) {
  return json_of(t.*Member);
}

template <auto Member>
void member_from_json(const nlohmann::json& j, Template& t) {
  read_json(j, t.*Member);
}

template <auto Member>
constexpr SettingSpec row(std::string_view key, bool inheritable,
                          bool (*parse)(const Value&, Template&)) {
  return {key, inheritable, parse, copy_member<Member>, member_json<Member>, member_from_json<Member>};
}

// pcocc's order (pcocc-anatomy §2.1); docs/config.md lists the same.
constexpr SettingSpec kSpecs[] = {
    row<&Template::image>("image", true, parse_image),
    row<&Template::resource_set>("resource-set", true, parse_resource_set),
    row<&Template::parent>("inherits", false, parse_inherits),
    row<&Template::description>("description", false, parse_description),
    row<&Template::user_data>("user-data", true, parse_user_data),
    row<&Template::instance_id>("instance-id", true, parse_instance_id),
    row<&Template::mount_points>("mount-points", true, parse_mount_points),
    row<&Template::persistent_drives>("persistent-drives", true, parse_persistent_drives),
    row<&Template::custom_args>("custom-args", true, parse_custom_args),
    row<&Template::qemu_bin>("qemu-bin", true, parse_qemu_bin),
    row<&Template::nic_model>("nic-model", true, parse_nic_model),
    row<&Template::disk_model>("disk-model", true, parse_disk_model),
    row<&Template::disk_cache>("disk-cache", true, parse_disk_cache),
    row<&Template::machine_type>("machine-type", true, parse_machine_type),
    row<&Template::cpu_model>("cpu-model", true, parse_cpu_model),
    row<&Template::emulator_cores>("emulator-cores", true, parse_emulator_cores),
    row<&Template::bind_vcpus>("bind-vcpus", true, parse_bind_vcpus),
    row<&Template::full_node>("full-node", true, parse_full_node),
    row<&Template::remote_display>("remote-display", true, parse_remote_display),
    row<&Template::kernel>("kernel", true, parse_kernel),
    row<&Template::ready_marker>("ready-marker", true, parse_ready_marker),
};

constexpr auto kKeys = [] {
  std::array<std::string_view, std::size(kSpecs)> keys{};
  for (std::size_t i = 0; i < keys.size(); ++i) keys[i] = kSpecs[i].key;
  return keys;
}();

}  // namespace

std::string_view to_string(DiskModel model) noexcept {
  return name_of<DiskModel>(kDiskModels, model);
}
std::string_view to_string(DiskCache cache) noexcept {
  return name_of<DiskCache>(kDiskCaches, cache);
}
std::string_view to_string(MountType type) noexcept {
  return name_of<MountType>(kMountTypes, type);
}
std::string_view to_string(Mmp mmp) noexcept { return name_of<Mmp>(kMmp, mmp); }
std::string_view to_string(RemoteDisplay display) noexcept {
  return name_of<RemoteDisplay>(kRemoteDisplays, display);
}

std::span<const SettingSpec> setting_specs() noexcept { return kSpecs; }

std::size_t setting_index(std::string_view key) noexcept {
  return static_cast<std::size_t>(std::find(kKeys.begin(), kKeys.end(), key) - kKeys.begin());
}

std::span<const std::string_view> template_setting_keys() noexcept { return kKeys; }

std::vector<ResolvedSetting> Template::settings() const {
  std::vector<ResolvedSetting> out;
  out.reserve(std::size(kSpecs));
  for (std::size_t i = 0; i < std::size(kSpecs); ++i) {
    ResolvedSetting s;
    if (i < sources.size()) static_cast<SettingSource&>(s) = sources[i];
    s.key = kSpecs[i].key;
    s.value = kSpecs[i].to_json(*this);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace slurmvm::config
