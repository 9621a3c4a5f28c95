// Image references and finding an image across the repositories (image_repo.hpp): what
// "[REPO:]NAME[@REV]" means, and which repository and revision it names.
#include "image_repo.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <fmt/format.h>

#include "error.hpp"

namespace slurmvm {
namespace fs = std::filesystem;

bool valid_image_name(std::string_view n) {
  return !n.empty() && n.size() <= 128 && std::isalnum(static_cast<unsigned char>(n[0])) &&
         std::all_of(n.begin(), n.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
         });
}

std::string ImageRef::to_string() const {
  std::string s = repo.empty() ? name : repo + ":" + name;
  if (revision) s += fmt::format("@{}", *revision);
  return s;
}

bool is_repo_image(std::string_view image) { return image.find('/') == std::string_view::npos; }

ImageRef parse_image_ref(std::string_view text) {
  ImageRef ref;
  std::string_view rest = text;
  bool has_repo = false;
  if (const auto colon = rest.find(':'); colon != std::string_view::npos) {
    ref.repo = std::string(rest.substr(0, colon));
    rest.remove_prefix(colon + 1);
    has_repo = true;
  }
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::uint32_t rev = 0;
    const auto r = rest.substr(at + 1);
    const auto [end, ec] = std::from_chars(r.data(), r.data() + r.size(), rev);
    if (r.empty() || ec != std::errc() || end != r.data() + r.size()) {
      throw Error(fmt::format("image \"{}\": \"{}\" is not a revision number", text, r), ErrorKind::usage);
    }
    ref.revision = rev;
    rest = rest.substr(0, at);
  }
  ref.name = std::string(rest);
  if (!valid_image_name(ref.name) || (has_repo && !valid_image_name(ref.repo))) {
    throw Error(fmt::format("\"{}\" is not an image name: expected [REPO:]NAME[@REV] (letters, digits, '_', '-', '.')",
                            text),
                ErrorKind::usage);
  }
  return ref;
}

std::vector<ImageRepo> open_repos(const config::RepoConfig& config, const config::SubstitutionContext& subst,
                                  bool create_first) {
  std::vector<ImageRepo> out;
  bool first = true;
  for (const auto& r : config.repos) {
    const fs::path path = config::expand_substitutions(r.path, subst);
    try {
      out.push_back(first && create_first ? ImageRepo::open_or_create(r.name, path) : ImageRepo::open(r.name, path));
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::not_found) throw;
    }
    first = false;
  }
  return out;
}

ImageRepo open_target_repo(const config::RepoConfig& config, const config::SubstitutionContext& subst,
                           const std::string& repo) {
  if (config.repos.empty()) throw Error("no image repository is configured (repos.yaml)", ErrorKind::config);
  for (const auto& r : config.repos) {
    if (repo.empty() || r.name == repo) {
      return ImageRepo::open_or_create(r.name, config::expand_substitutions(r.path, subst),
                                       r.origin == config::Origin::user ? ImageRepo::Visibility::owner_only
                                                                        : ImageRepo::Visibility::site);
    }
  }
  throw Error(fmt::format("no repository named {} (see repos.yaml)", repo), ErrorKind::not_found);
}

std::pair<const ImageRepo*, ImageRevision> find_image(const std::vector<ImageRepo>& repos, const ImageRef& ref) {
  std::string looked;
  for (const auto& repo : repos) {
    if (!ref.repo.empty() && repo.name() != ref.repo) continue;
    if (auto rev = repo.find(ref.name, ref.revision)) return {&repo, *rev};
    looked += (looked.empty() ? "" : ", ") + repo.name();
  }
  if (!ref.repo.empty() && looked.empty()) {
    throw Error(fmt::format("image {}: no repository named {} holds images (repos.yaml names the repositories; "
                            "one exists once an image is imported or saved into it)",
                            ref.to_string(), ref.repo),
                ErrorKind::not_found);
  }
  throw Error(fmt::format("image {} not found (looked in: {})", ref.to_string(), looked.empty() ? "no repository" : looked),
              ErrorKind::not_found);
}

}  // namespace slurmvm
