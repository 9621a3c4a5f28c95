// vm doctor: Slurm's side (checks.hpp): the configuration slurmctld serves, the plugin in
// plugstack.conf and the release it was built for, Prolog=, Epilog= and PrologFlags.
#include <glob.h>

#include <fmt/format.h>

#include "checks.hpp"
#include "error.hpp"
#include "file_read.hpp"
#include "parsers.hpp"
#include "subprocess.hpp"

namespace fs = std::filesystem;

namespace slurmvm::doctor {
namespace {

constexpr const char* kPluginName = "spank_vm.so";

struct PluginEntry {
  PlugstackLine line;
  fs::path file;      // plugstack.conf or an included file
  fs::path resolved;  // the plugin's path (a relative one is looked up in PluginDir)
};

std::vector<fs::path> glob_paths(const std::string& pattern) {
  std::vector<fs::path> out;
  glob_t g{};
  if (::glob(pattern.c_str(), 0, nullptr, &g) == 0) {
    for (std::size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  }
  ::globfree(&g);
  return out;
}

// Depth-first through include lines (Slurm resolves a relative include against the file's
// directory); at most 4 levels, as no site nests deeper.
void find_plugin(const fs::path& file, const std::string& plugin_dirs, int depth, std::optional<PluginEntry>& found) {
  if (depth > 4 || found) return;
  const auto text = read_file_if_exists(file, 1 << 20);
  if (!text) return;
  for (const PlugstackLine& line : parse_plugstack(*text)) {
    if (line.include) {
      const fs::path pattern = fs::path(line.path).is_absolute() ? fs::path(line.path) : file.parent_path() / line.path;
      for (const fs::path& f : glob_paths(pattern.string())) find_plugin(f, plugin_dirs, depth + 1, found);
      if (found) return;
      continue;
    }
    if (fs::path(line.path).filename() != kPluginName) continue;
    PluginEntry e{line, file, line.path};
    if (!e.resolved.is_absolute()) {
      std::size_t start = 0;
      while (start <= plugin_dirs.size()) {
        const auto colon = plugin_dirs.find(':', start);
        const fs::path candidate = fs::path(plugin_dirs.substr(start, colon - start)) / line.path;
        std::error_code ec;
        if (fs::exists(candidate, ec)) {
          e.resolved = candidate;
          break;
        }
        if (colon == std::string::npos) break;
        start = colon + 1;
      }
    }
    found = std::move(e);
    return;
  }
}

std::string value_or(const std::map<std::string, std::string, std::less<>>& m, std::string_view key) {
  const auto it = m.find(key);
  return it == m.end() || it->second == "(null)" ? "" : it->second;
}

Finding helper_finding(const std::string& key, const std::string& value, const std::string& helper) {
  const std::string check = key == "Prolog" ? "prolog" : "epilog";
  const std::string path = "/usr/libexec/slurm-vm/" + helper;
  if (value.empty()) {
    return {check, Status::fail, fmt::format("{}= is not set: no job gets its network", key),
            fmt::format("{}={} in slurm.conf on every node and the controller", key, path)};
  }
  if (value.find(helper) != std::string::npos) return {check, Status::ok, fmt::format("{}={}", key, value), ""};
  return {check, Status::warn, fmt::format("{}={}, not {}", key, value, helper),
          fmt::format("make it run {} with the same environment and pass its exit status on", path)};
}

}  // namespace

std::vector<Finding> check_slurm(const Host& /*host*/) {
  std::vector<Finding> out;
  Command c;
  c.argv = {"scontrol", "show", "config"};
  c.search_path = true;
  c.inherit_env = true;
  c.timeout = std::chrono::seconds(20);
  RunResult r;
  try {
    r = run(c);
  } catch (const Error& e) {
    out.push_back({"slurm", Status::fail, fmt::format("scontrol cannot run: {}", e.what()),
                   "install slurm-client (Debian) or slurm (RPM)"});
    return out;
  }
  if (!r.ok()) {
    // The last line says it best ("fatal: Could not establish a configuration source").
    std::string why = r.err.empty() ? r.out : r.err;
    while (!why.empty() && why.back() == '\n') why.pop_back();
    if (const auto nl = why.rfind('\n'); nl != std::string::npos) why = why.substr(nl + 1);
    out.push_back({"slurm", Status::fail,
                   fmt::format("scontrol show config failed{}: {}", r.timed_out ? " (no answer in 20 s)" : "", why),
                   "check that slurmctld runs and this host reaches it (SLURM_CONF, munge)"});
    return out;
  }
  const auto conf = parse_scontrol_config(r.out);
  const std::string version = value_or(conf, "SLURM_VERSION");
  out.push_back({"slurm", Status::ok, fmt::format("slurmctld answers; Slurm {}", version.empty() ? "?" : version), ""});

  // The plugin, as slurmd and srun will find it.
  std::string plugstack = value_or(conf, "PlugStackConfig");
  if (plugstack.empty()) plugstack = "/etc/slurm/plugstack.conf";
  std::optional<PluginEntry> entry;
  find_plugin(plugstack, value_or(conf, "PluginDir"), 0, entry);
  if (!entry) {
    out.push_back({"plugin", Status::fail, fmt::format("{} is not in {} (nor in a file it includes)", kPluginName, plugstack),
                   "install slurm-vm-spank (its /etc/slurm/plugstack.conf.d/slurm-vm.conf), or add 'required "
                   "<path>/spank_vm.so' to plugstack.conf; then restart slurmd"});
    return out;
  }
  const std::string where = fmt::format("{} line {}", entry->file.string(), entry->line.line);
  std::error_code ec;
  if (!fs::exists(entry->resolved, ec)) {
    out.push_back({"plugin", Status::fail, fmt::format("{} names {}, which does not exist", where, entry->line.path),
                   "install slurm-vm-spank, or correct the path"});
    return out;
  }
  out.push_back({"plugin", entry->line.required ? Status::ok : Status::warn,
                 fmt::format("{} ({}: {})", entry->resolved.string(), where, entry->line.required ? "required" : "optional"),
                 entry->line.required ? "" : "make it 'required': with 'optional' a node that cannot load it runs jobs without their VMs"});

  // The release it was built for: Slurm refuses another series (series_check.cpp says so too).
  std::optional<std::uint32_t> built;
  try {
    built = elf_u32_symbol(read_file(entry->resolved, 256 << 20), "plugin_version");
  } catch (const Error&) {
  }
  const auto running = parse_slurm_version("slurm " + version);
  if (!built || !running) {
    out.push_back({"plugin-abi", Status::warn,
                   fmt::format("cannot tell which Slurm {} was built for", entry->resolved.string()), ""});
  } else {
    const int major = static_cast<int>((*built >> 16) & 0xff), minor = static_cast<int>((*built >> 8) & 0xff);
    if (std::pair{major, minor} == *running) {
      out.push_back({"plugin-abi", Status::ok, fmt::format("built for Slurm {}.{:02}, as this Slurm", major, minor), ""});
    } else {
      out.push_back({"plugin-abi", Status::fail,
                     fmt::format("built for Slurm {}.{:02}, this is Slurm {}: slurmd refuses it", major, minor, version),
                     "install the slurm-vm packages built for this Slurm (docs/install.md, \"Upgrading Slurm\")"});
    }
  }

  out.push_back(helper_finding("Prolog", value_or(conf, "Prolog"), "vm-prolog"));
  out.push_back(helper_finding("Epilog", value_or(conf, "Epilog"), "vm-epilog"));
  const std::string flags = value_or(conf, "PrologFlags");
  if (flags.find("Alloc") == std::string::npos) {
    out.push_back({"prolog-flags", Status::fail,
                   fmt::format("PrologFlags={}: without Alloc the prolog runs at the first step, after the VMs need "
                               "their network",
                               flags.empty() ? "(none)" : flags),
                   "PrologFlags=Alloc,Contain in slurm.conf"});
  } else if (flags.find("Contain") == std::string::npos) {
    out.push_back({"prolog-flags", Status::warn, fmt::format("PrologFlags={}: no Contain", flags),
                   "PrologFlags=Alloc,Contain: every process of the job in its cgroups"});
  } else {
    out.push_back({"prolog-flags", Status::ok, fmt::format("PrologFlags={}", flags), ""});
  }
  return out;
}

}  // namespace slurmvm::doctor
