// The requested cluster definition and its check (definition.hpp).
#include "definition.hpp"

#include "config/config.hpp"
#include "error.hpp"
#include "image_templates.hpp"

namespace slurmvm::spank {
namespace {

constexpr std::string_view kOptionSource = "--vm-template";

}  // namespace

std::optional<DefinitionRequest> requested_definition(const std::optional<std::string>& option,
                                                      const std::optional<std::string>& env) {
  if (option) return DefinitionRequest{*option, kOptionSource};
  if (env && !env->empty()) return DefinitionRequest{*env, kEnvVar};
  return std::nullopt;
}

config::ConfigDirs submission_config_dirs(const config::EnvLookup& env, const PluginArgs& args) {
  return config::config_dirs_from([&](const std::string& name) -> std::optional<std::string> {
    std::optional<std::string> value = env(name);
    if (name == "SLURM_VM_SYSCONFDIR" && (!value || value->empty()) && args.sysconfdir) {
      return args.sysconfdir->string();
    }
    return value;
  });
}

ClusterDef parse_definition(const DefinitionRequest& request) {
  return with_context(request.source, [&] {
    return ClusterDef::parse(request.text);
  });
}

CheckedDefinition check_definition(const DefinitionRequest& request, const config::ConfigDirs& dirs) {
  // Syntax first: its message is the most precise, and it needs no file.
  CheckedDefinition out{parse_definition(request), {}};
  with_context(request.source, [&] {
    config::Config cfg = config::load_config(dirs);
    add_image_templates(cfg, out.def);
    out.def.check_templates([&](std::string_view name) { return cfg.find_template(name) != nullptr; });
    for (const auto& group : out.def.groups()) {
      if (!out.resource_sets.empty()) out.resource_sets += ',';
      out.resource_sets += cfg.get_template(group.template_name).resource_set;
    }
  });
  return out;
}

}  // namespace slurmvm::spank
