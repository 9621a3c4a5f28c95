// repos.yaml: repositories in priority order, user first; the cache.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/repos.hpp"
#include "error.hpp"

using slurmvm::Error;
using namespace slurmvm::config;
using testing::StrEq;
using testing::ThrowsMessage;

namespace {

RepoConfig repos(std::string_view text, Origin origin = Origin::system,
                 const char* file = "repos.yaml") {
  return parse_repos(parse_yaml(text, file), origin);
}

}  // namespace

TEST(ConfigRepos, ReadsReposAndCache) {
  const RepoConfig r = repos(
      "repos:\n"
      "  - {name: user, path: \"%{homedir}/.pcocc/images\"}\n"
      "  - {name: global, path: /var/lib/pcocc/images}\n"
      "cache: {path: ~/cache}\n");
  ASSERT_EQ(r.repos.size(), 2u);
  EXPECT_EQ(r.repos[0].name, "user");
  EXPECT_EQ(r.repos[0].path, "%{homedir}/.pcocc/images");
  EXPECT_EQ(r.repos[0].line, 2);
  EXPECT_EQ(r.repos[1].origin, Origin::system);
  EXPECT_EQ(r.cache_path, "~/cache");
  EXPECT_TRUE(repos("").repos.empty());
}

TEST(ConfigRepos, UserReposComeFirstAndNamesAreUnique) {
  RepoConfig user = repos("repos: [{name: mine, path: /home/a/img}]\ncache: {path: /home/a/c}",
                          Origin::user, "user/repos.yaml");
  RepoConfig system = repos("repos: [{name: global, path: /img}]\ncache: {path: /c}");
  const RepoConfig merged = merge_repos(user, system);
  ASSERT_EQ(merged.repos.size(), 2u);
  EXPECT_EQ(merged.repos[0].name, "mine");
  EXPECT_EQ(merged.repos[1].name, "global");
  EXPECT_EQ(merged.cache_path, "/home/a/c");
  EXPECT_EQ(merge_repos({}, system).cache_path, "/c");

  RepoConfig clash =
      repos("repos: [{name: global, path: /home/a/img}]", Origin::user, "user/repos.yaml");
  EXPECT_THAT([&] { merge_repos(clash, system); },
              ThrowsMessage<Error>(StrEq(
                  "user/repos.yaml:1: repository \"global\" is already defined at repos.yaml:1")));
}

TEST(ConfigRepos, Errors) {
  auto error_of = [](std::string_view text) -> std::string {
    try {
      repos(text);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(error_of("repos: [{name: a, path: /x}, {name: a, path: /y}]"),
            "repos.yaml:1: repository \"a\" is already defined at repos.yaml:1");
  EXPECT_EQ(error_of("repos: [{name: a, path: images}]"),
            "repos.yaml:1: repos[0].path: expected an absolute path, got \"images\"");
  EXPECT_EQ(error_of("repos: [{name: a}]"),
            "repos.yaml:1: repos[0]: missing required key \"path\"");
  EXPECT_EQ(
      error_of("repos: [{name: 'a:b', path: /x}]"),
      "repos.yaml:1: repos[0].name: invalid repository name (expected a letter, then letters, "
      "digits, '_' or '-')");
  EXPECT_EQ(error_of("repos: [{name: a, path: /x, writable: true}]"),
            "repos.yaml:1: repos[0].writable: unknown key; expected one of: name, path");
  EXPECT_EQ(error_of("cache: /x"), "repos.yaml:1: cache: expected a mapping, got \"/x\"");
  EXPECT_EQ(error_of("repo: []"), "repos.yaml:1: repo: unknown key, did you mean \"repos\"?");
  EXPECT_EQ(error_of("repos: [{name: a, path: \"%{nope}/x\"}]"),
            "repos.yaml:1: repos[0].path: unknown substitution \"%{nope}\" (known: %{env:VAR}, "
            "%{homedir}, %{user}, %{clusterdir}, %{clusteruser}, %{vm_rank})");
}
