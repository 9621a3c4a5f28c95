// Strict parsing of the plugstack.conf arguments (plugin_args.hpp).
#include "plugin_args.hpp"

#include <fmt/format.h>

#include "error.hpp"

namespace slurmvm::spank {
namespace {

constexpr std::string_view kKnownKeys = "sysconfdir";

[[noreturn]] void bad_argument(std::string_view arg, std::string_view why) {
  throw Error(
      fmt::format("plugstack.conf argument \"{}\": {} (accepted: {})", arg, why, kKnownKeys),
      ErrorKind::config);
}

std::filesystem::path parse_dir(std::string_view arg, std::string_view value) {
  if (value.empty()) bad_argument(arg, "the path is empty");
  // The plugin runs in processes whose working directory is anyone's (srun's is the user's).
  if (value.front() != '/') bad_argument(arg, "the path must be absolute");
  return std::filesystem::path(value).lexically_normal();
}

}  // namespace

PluginArgs parse_plugin_args(std::span<const std::string_view> args) {
  PluginArgs out;
  for (const std::string_view arg : args) {
    const std::size_t eq = arg.find('=');
    if (eq == std::string_view::npos || eq == 0) bad_argument(arg, "not KEY=VALUE");
    const std::string_view key = arg.substr(0, eq);
    const std::string_view value = arg.substr(eq + 1);
    if (key == "sysconfdir") {
      if (out.sysconfdir) bad_argument(arg, "sysconfdir is given twice");
      out.sysconfdir = parse_dir(arg, value);
    } else {
      bad_argument(arg, fmt::format("unknown key \"{}\"", key));
    }
  }
  return out;
}

}  // namespace slurmvm::spank
