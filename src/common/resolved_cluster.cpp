// The resolved cluster and its JSON form (resolved_cluster.hpp).
#include "resolved_cluster.hpp"

#include <fmt/format.h>

#include "config/template_settings.hpp"
#include "error.hpp"
#include "overrides.hpp"

namespace slurmvm {
namespace {

constexpr int kFormat = 1;

nlohmann::json template_json(const config::Template& t) {
  nlohmann::json j = {{"name", t.name}, {"origin", to_string(t.origin)}, {"file", t.file.string()}, {"line", t.line}};
  nlohmann::json settings = nlohmann::json::object();
  for (const auto& spec : config::setting_specs()) settings[std::string(spec.key)] = spec.to_json(t);
  j["settings"] = std::move(settings);
  return j;
}

config::Origin origin_of(const nlohmann::json& j) {
  const auto text = j.get<std::string>();
  if (text == to_string(config::Origin::system)) return config::Origin::system;
  if (text == to_string(config::Origin::user)) return config::Origin::user;
  throw Error(fmt::format("origin \"{}\" is neither system nor user", text), ErrorKind::config);
}

config::Template template_of(const nlohmann::json& j) {
  config::Template t;
  t.name = j.at("name").get<std::string>();
  with_context(fmt::format("template {}", t.name), [&] {
    t.origin = origin_of(j.at("origin"));
    t.file = j.at("file").get<std::string>();
    t.line = j.at("line").get<int>();
    const auto& settings = j.at("settings");
    if (!settings.is_object()) throw Error("settings is not an object", ErrorKind::config);
    // Every key, so that a truncated or hand-edited file is refused, not half-read.
    for (const auto& spec : config::setting_specs()) {
      const std::string key(spec.key);
      if (!settings.contains(key)) throw Error(fmt::format("no {}", key), ErrorKind::config);
      with_context(key, [&] { spec.from_json(settings.at(key), t); });
    }
    for (const auto& [key, value] : settings.items()) {
      if (config::setting_index(key) == config::setting_specs().size()) {
        throw Error(fmt::format("unknown setting {}", key), ErrorKind::config);
      }
    }
  });
  return t;
}

}  // namespace

const config::Template& ResolvedCluster::get(std::string_view name) const {
  for (const auto& t : templates) {
    if (t.name == name) return t;
  }
  throw Error(fmt::format("the resolved cluster {} has no template {}", definition, name), ErrorKind::config);
}

ResolvedCluster resolve_cluster(const ClusterDef& def, const config::Config& cfg, const nlohmann::json& overrides) {
  def.check_templates([&](std::string_view n) { return cfg.find_template(n) != nullptr; });
  ResolvedCluster out{def.to_string(), {}, cfg.repos, cfg.site.node_scratch};
  for (const auto& group : def.groups()) {
    const bool seen = std::any_of(out.templates.begin(), out.templates.end(),
                                  [&](const config::Template& t) { return t.name == group.template_name; });
    if (seen) continue;
    // A copy: the overrides concern this cluster's templates only (overrides.hpp).
    config::Template t = cfg.get_template(group.template_name);
    if (!overrides.empty()) apply_overrides(t, overrides);
    out.templates.push_back(std::move(t));
  }
  return out;
}

nlohmann::json to_json(const ResolvedCluster& c) {
  nlohmann::json templates = nlohmann::json::array();
  for (const auto& t : c.templates) templates.push_back(template_json(t));
  nlohmann::json repos = nlohmann::json::array();
  for (const auto& r : c.repos.repos) {
    repos.push_back({{"name", r.name}, {"path", r.path}, {"origin", to_string(r.origin)}, {"file", r.file.string()},
                     {"line", r.line}});
  }
  return {{"format", kFormat},
          {"definition", c.definition},
          {"templates", std::move(templates)},
          {"repos", std::move(repos)},
          {"cache", c.repos.cache_path ? nlohmann::json(*c.repos.cache_path) : nlohmann::json(nullptr)},
          {"node_scratch", c.node_scratch ? nlohmann::json(*c.node_scratch) : nlohmann::json(nullptr)}};
}

ResolvedCluster parse_resolved_cluster(std::string_view text, std::string_view source) {
  return with_context(std::string(source), [&] {
    try {
      const auto j = nlohmann::json::parse(text);
      if (j.at("format").get<int>() != kFormat) {
        throw Error(fmt::format("format {} is not {}: written by another version of slurm-vm",
                                j.at("format").dump(), kFormat),
                    ErrorKind::config);
      }
      ResolvedCluster c;
      c.definition = j.at("definition").get<std::string>();
      const ClusterDef def = ClusterDef::parse(c.definition);
      for (const auto& t : j.at("templates")) c.templates.push_back(template_of(t));
      for (const auto& r : j.at("repos")) {
        c.repos.repos.push_back({r.at("name").get<std::string>(), r.at("path").get<std::string>(),
                                 origin_of(r.at("origin")), r.at("file").get<std::string>(), r.at("line").get<int>()});
      }
      if (const auto& cache = j.at("cache"); !cache.is_null()) c.repos.cache_path = cache.get<std::string>();
      if (const auto s = j.find("node_scratch"); s != j.end() && !s->is_null()) c.node_scratch = s->get<std::string>();
      for (const auto& group : def.groups()) c.get(group.template_name);  // every one is there
      return c;
    } catch (const nlohmann::json::exception& e) {
      throw Error(fmt::format("not a resolved cluster: {}", e.what()), ErrorKind::config);
    }
  });
}

}  // namespace slurmvm
