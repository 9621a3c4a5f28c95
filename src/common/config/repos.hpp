// Image repositories of repos.yaml (system and user; pcocc's format):
//   repos: [{name: user, path: "%{homedir}/.pcocc/images"}, ...]
//   cache: {path: ...}          # optional
// Paths are kept as written (substitutions.hpp). User repositories come first: that is the
// order in which an image name without a repository is looked up.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/origin.hpp"
#include "config/yaml_reader.hpp"

namespace slurmvm::config {

struct Repo {
  std::string name;
  std::string path;  // as written: %{...} and a leading ~ expand when used
  Origin origin = Origin::system;
  std::filesystem::path file;
  int line = 0;
};

struct RepoConfig {
  std::vector<Repo> repos;  // user repositories first, each file's in file order
  std::optional<std::string> cache_path;
};

// One repos.yaml. Throws Error(ErrorKind::config).
RepoConfig parse_repos(const Value& root, Origin origin);

// The user's repositories, then the system's. A name defined at both levels is an error (an image
// URI REPO:NAME must mean one thing); the user's cache, when set, replaces the system's.
RepoConfig merge_repos(RepoConfig user, RepoConfig system);

}  // namespace slurmvm::config
