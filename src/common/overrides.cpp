// Template overrides (overrides.hpp).
#include "overrides.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "error.hpp"

namespace slurmvm {

nlohmann::json parse_overrides(const ClusterDef& def, const std::vector<std::string>& images,
                               const std::vector<std::string>& mounts, const std::string& user_data) {
  nlohmann::json out = nlohmann::json::object();
  std::set<std::string> templates;
  for (const auto& g : def.groups()) templates.insert(g.template_name);
  for (const std::string& arg : images) {
    std::string tpl, image;
    if (const auto eq = arg.find('='); eq != std::string::npos) {
      tpl = arg.substr(0, eq);
      image = arg.substr(eq + 1);
    } else if (templates.size() == 1) {
      tpl = *templates.begin();
      image = arg;
    } else {
      throw Error(fmt::format("--image {}: the cluster has several templates: write --image TEMPLATE=IMAGE", arg),
                  ErrorKind::usage);
    }
    if (!templates.contains(tpl)) {
      throw Error(fmt::format("--image {}: the cluster {} has no template {}", arg, def.to_string(), tpl),
                  ErrorKind::usage);
    }
    if (image.empty()) throw Error(fmt::format("--image {}: no image given", arg), ErrorKind::usage);
    out["images"][tpl] = image;
  }
  for (const std::string& arg : mounts) {
    const auto eq = arg.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw Error(fmt::format("--mount {}: expected TAG=PATH[,type=virtio-9p][,readonly=true|false]", arg),
                  ErrorKind::usage);
    }
    nlohmann::json m = {{"tag", arg.substr(0, eq)}, {"readonly", false}, {"type", "virtio-9p"}};
    std::string rest = arg.substr(eq + 1);
    const auto comma = rest.find(',');
    m["path"] = rest.substr(0, comma);
    if (m["path"].get<std::string>().empty() || m["path"].get<std::string>().front() != '/') {
      throw Error(fmt::format("--mount {}: the path must be absolute", arg), ErrorKind::usage);
    }
    std::string opts = comma == std::string::npos ? "" : rest.substr(comma + 1);
    while (!opts.empty()) {
      const auto c = opts.find(',');
      const std::string opt = opts.substr(0, c);
      opts = c == std::string::npos ? "" : opts.substr(c + 1);
      if (opt == "readonly=true" || opt == "readonly") {
        m["readonly"] = true;
      } else if (opt == "readonly=false") {
        m["readonly"] = false;
      } else if (opt == "type=virtio-9p" || opt == "type=virtio-fs") {
        m["type"] = opt.substr(5);
      } else {
        throw Error(fmt::format("--mount {}: unknown setting \"{}\" (type=virtio-9p|virtio-fs, readonly=true|false)",
                                arg, opt),
                    ErrorKind::usage);
      }
    }
    out["mounts"].push_back(std::move(m));
  }
  if (!user_data.empty()) {
    if (user_data.front() != '/') throw Error("--user-data: give an absolute path (the VMs' nodes read it)", ErrorKind::usage);
    out["user_data"] = user_data;
  }
  return out;
}

void apply_overrides(config::Template& t, const nlohmann::json& o) {
  if (!o.is_object()) return;
  try {
    if (o.contains("images") && o.at("images").contains(t.name)) t.image = o.at("images").at(t.name).get<std::string>();
    if (o.contains("mounts")) {
      for (const auto& m : o.at("mounts")) {
        config::MountPoint mp;
        mp.tag = m.at("tag").get<std::string>();
        mp.path = m.at("path").get<std::string>();
        mp.readonly = m.at("readonly").get<bool>();
        mp.type = m.at("type").get<std::string>() == "virtio-fs" ? config::MountType::virtio_fs : config::MountType::virtio_9p;
        const auto same = std::find_if(t.mount_points.begin(), t.mount_points.end(),
                                       [&](const config::MountPoint& x) { return x.tag == mp.tag; });
        if (same != t.mount_points.end()) {
          *same = mp;
        } else {
          t.mount_points.push_back(mp);
        }
      }
    }
    if (o.contains("user_data")) t.user_data = config::UserDataFile{o.at("user_data").get<std::string>()};
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("not valid overrides: {}", e.what()), ErrorKind::config);
  }
}

}  // namespace slurmvm
