// Image repositories of repos.yaml (repos.hpp).
#include "config/repos.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "config/names.hpp"

namespace slurmvm::config {
namespace {

// Absolute once expanded: relative to what would depend on where `vm` runs.
std::string read_directory(Mapping& m) {
  const Value v = m.require("path");
  std::string path = v.as_expandable_string();
  if (path.front() != '/' && path.front() != '~' && !path.starts_with("%{")) {
    v.fail_expected("an absolute path");
  }
  return path;
}

[[noreturn]] void throw_duplicate(const Repo& repo, const Repo& first) {
  throw_config_error(repo.file.string(), repo.line, "",
                     fmt::format("repository \"{}\" is already defined at {}:{}", repo.name,
                                 first.file.string(), first.line));
}

}  // namespace

RepoConfig parse_repos(const Value& root, Origin origin) {
  RepoConfig config;
  Mapping top = root.as_map();
  if (auto repos = top.get("repos")) {
    for (const Value& item : repos->as_list()) {
      Mapping m = item.as_map();
      const Value name_v = m.require("name");
      Repo repo{name_v.as_nonempty_string(), read_directory(m), origin, item.file(), item.line()};
      m.reject_unknown_keys();
      if (!is_valid_name(repo.name)) {
        name_v.fail(
            "invalid repository name (expected a letter, then letters, digits, '_' or '-')");
      }
      auto first = std::find_if(config.repos.begin(), config.repos.end(),
                                [&](const Repo& r) { return r.name == repo.name; });
      if (first != config.repos.end()) throw_duplicate(repo, *first);
      config.repos.push_back(std::move(repo));
    }
  }
  if (auto cache = top.get("cache")) {
    Mapping m = cache->as_map();
    config.cache_path = read_directory(m);
    m.reject_unknown_keys();
    cache->warn_no_effect("slurm-vm keeps no image cache: each VM boots from the repository's image through a "
                          "copy-on-write overlay");
  }
  top.reject_unknown_keys();
  return config;
}

RepoConfig merge_repos(RepoConfig user, RepoConfig system) {
  for (Repo& repo : system.repos) {
    auto first = std::find_if(user.repos.begin(), user.repos.end(),
                              [&](const Repo& r) { return r.name == repo.name; });
    if (first != user.repos.end()) throw_duplicate(*first, repo);
    user.repos.push_back(std::move(repo));
  }
  if (!user.cache_path) user.cache_path = std::move(system.cache_path);
  return user;
}

}  // namespace slurmvm::config
