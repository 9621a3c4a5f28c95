// A template's values as JSON and back, one overload per member type: what `vm template show
// --json` prints and what a resolved cluster's snapshot (resolved_cluster.hpp) holds. The
// shapes are the YAML's where they can be (a path is a string, inline cloud-config the object it
// is); a mount point and a drive are objects naming every field. Internal to the settings table
// (template_settings.cpp), which applies them member by member.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "config/enum_names.hpp"
#include "config/template.hpp"
#include "error.hpp"

namespace slurmvm::config {

inline constexpr EnumName<DiskModel> kDiskModels[] = {
    {"virtio", DiskModel::virtio}, {"virtio-scsi", DiskModel::virtio_scsi}, {"ide", DiskModel::ide}};
inline constexpr EnumName<DiskCache> kDiskCaches[] = {{"writeback", DiskCache::writeback},
                                                      {"none", DiskCache::none},
                                                      {"unsafe", DiskCache::unsafe},
                                                      {"writethrough", DiskCache::writethrough},
                                                      {"directsync", DiskCache::directsync}};
inline constexpr EnumName<MountType> kMountTypes[] = {{"virtio-9p", MountType::virtio_9p},
                                                      {"virtio-fs", MountType::virtio_fs}};
inline constexpr EnumName<Mmp> kMmp[] = {{"yes", Mmp::yes}, {"cluster", Mmp::cluster}, {"no", Mmp::no}};
inline constexpr EnumName<RemoteDisplay> kRemoteDisplays[] = {{"spice", RemoteDisplay::spice}};

// virtio-fs tags are at most 36 bytes (the virtio-fs config space); commas would split QEMU's
// -device options.
inline bool valid_mount_tag(std::string_view tag) noexcept {
  return !tag.empty() && tag.size() <= 36 && std::all_of(tag.begin(), tag.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.';
  });
}

// ---- to JSON --------------------------------------------------------------------------------

inline nlohmann::json json_of(const std::string& s) { return s; }
inline nlohmann::json json_of(bool b) { return b; }
inline nlohmann::json json_of(int i) { return i; }
inline nlohmann::json json_of(DiskModel e) { return name_of<DiskModel>(kDiskModels, e); }
inline nlohmann::json json_of(DiskCache e) { return name_of<DiskCache>(kDiskCaches, e); }
inline nlohmann::json json_of(RemoteDisplay e) { return name_of<RemoteDisplay>(kRemoteDisplays, e); }

inline nlohmann::json json_of(const MountPoint& m) {
  return {{"tag", m.tag},
          {"path", m.path},
          {"readonly", m.readonly},
          {"type", name_of<MountType>(kMountTypes, m.type)}};
}

inline nlohmann::json json_of(const PersistentDrive& d) {
  nlohmann::json out = {
      {"path", d.path}, {"mmp", name_of<Mmp>(kMmp, d.mmp)}, {"cache", name_of<DiskCache>(kDiskCaches, d.cache)}};
  out["backup"] = d.backup ? nlohmann::json(*d.backup) : nlohmann::json(nullptr);
  return out;
}

// A path shows as a string, inline cloud-config as the object it is: the shapes of the YAML.
inline nlohmann::json json_of(const UserData& u) {
  if (const auto* file = std::get_if<UserDataFile>(&u)) return file->path;
  return std::get<UserDataInline>(u).cloud_config;
}

template <class T>
nlohmann::json json_of(const std::optional<T>& o) {
  return o ? json_of(*o) : nlohmann::json(nullptr);
}

template <class T>
nlohmann::json json_of(const std::vector<T>& items) {
  nlohmann::json out = nlohmann::json::array();
  for (const T& item : items) out.push_back(json_of(item));
  return out;
}

// ---- from JSON ------------------------------------------------------------------------------
// Each throws Error(config) "expected WHAT, got JSON".

[[noreturn]] inline void json_expected(std::string_view what, const nlohmann::json& got) {
  std::string text = got.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  throw Error(fmt::format("expected {}, got {}", what, text), ErrorKind::config);
}

inline void read_json(const nlohmann::json& j, std::string& out) {
  if (!j.is_string()) json_expected("a string", j);
  out = j.get<std::string>();
}
inline void read_json(const nlohmann::json& j, bool& out) {
  if (!j.is_boolean()) json_expected("true or false", j);
  out = j.get<bool>();
}
inline void read_json(const nlohmann::json& j, int& out) {
  if (!j.is_number_integer() || j.get<long long>() < 0 || j.get<long long>() > 0x7fffffff) {
    json_expected("a non-negative integer", j);
  }
  out = j.get<int>();
}
template <class E>
void read_enum(const nlohmann::json& j, std::span<const EnumName<E>> names, E& out) {
  if (j.is_string()) {
    for (const auto& n : names) {
      if (n.name == j.get<std::string>()) {
        out = n.value;
        return;
      }
    }
  }
  json_expected(list_names(names), j);
}
inline void read_json(const nlohmann::json& j, DiskModel& out) { read_enum<DiskModel>(j, kDiskModels, out); }
inline void read_json(const nlohmann::json& j, DiskCache& out) { read_enum<DiskCache>(j, kDiskCaches, out); }
inline void read_json(const nlohmann::json& j, RemoteDisplay& out) {
  read_enum<RemoteDisplay>(j, kRemoteDisplays, out);
}

inline const nlohmann::json& json_member(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) json_expected(fmt::format("an object with \"{}\"", key), j);
  return j.at(key);
}

inline void read_json(const nlohmann::json& j, MountPoint& out) {
  read_json(json_member(j, "tag"), out.tag);
  if (!valid_mount_tag(out.tag)) json_expected("a mount tag (1 to 36 letters, digits, '_', '-' or '.')", j);
  read_json(json_member(j, "path"), out.path);
  read_json(json_member(j, "readonly"), out.readonly);
  read_enum<MountType>(json_member(j, "type"), kMountTypes, out.type);
}

inline void read_json(const nlohmann::json& j, PersistentDrive& out) {
  read_json(json_member(j, "path"), out.path);
  read_enum<Mmp>(json_member(j, "mmp"), kMmp, out.mmp);
  read_enum<DiskCache>(json_member(j, "cache"), kDiskCaches, out.cache);
  out.backup.reset();
  if (const auto& b = json_member(j, "backup"); !b.is_null()) read_json(b, out.backup.emplace());
}

inline void read_json(const nlohmann::json& j, UserData& out) {
  if (j.is_string()) {
    out = UserDataFile{j.get<std::string>()};
  } else if (j.is_object()) {
    out = UserDataInline{j};
  } else {
    json_expected("a file path or an inline cloud-config object", j);
  }
}

template <class T>
void read_json(const nlohmann::json& j, std::optional<T>& out) {
  if (j.is_null()) {
    out.reset();
    return;
  }
  T value{};
  read_json(j, value);
  out = std::move(value);
}

template <class T>
void read_json(const nlohmann::json& j, std::vector<T>& out) {
  if (!j.is_array()) json_expected("a list", j);
  out.clear();
  for (const auto& item : j) read_json(item, out.emplace_back());
}

}  // namespace slurmvm::config
