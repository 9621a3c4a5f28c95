// resources.yaml: resource sets, their networks, the default set.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/resources.hpp"
#include "error.hpp"

using slurmvm::Error;
using namespace slurmvm::config;

namespace {

const NetworkMap& some_networks() {
  static const NetworkMap nets =
      parse_networks(parse_yaml("nat: {type: eth, settings: {dev-prefix: nat}}\n"
                                "ib: {type: hostib, settings: {host-device: mlx5_0}}\n",
                                "networks.yaml"));
  return nets;
}

ResourceSetMap sets(std::string_view text) {
  return parse_resource_sets(parse_yaml(text, "resources.yaml"), some_networks());
}

std::string error_of(std::string_view text) {
  try {
    sets(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(ConfigResourceSets, NetworksInNicOrderAndTheDefault) {
  const auto s = sets("a: {networks: [nat, ib], default: True}\nb: {networks: [ib]}\nc:\n");
  EXPECT_EQ(s.at("a").networks, (std::vector<std::string>{"nat", "ib"}));
  EXPECT_TRUE(s.at("a").is_default);
  EXPECT_FALSE(s.at("b").is_default);
  EXPECT_TRUE(s.at("c").networks.empty());
  EXPECT_EQ(s.at("b").line, 2);
  EXPECT_EQ(s.at("b").file, "resources.yaml");
}

TEST(ConfigResourceSets, Errors) {
  EXPECT_EQ(error_of("a: {networks: [nat, eth0]}"),
            "resources.yaml:1: a.networks[1]: unknown network \"eth0\" (defined: ib, nat)");
  EXPECT_EQ(error_of("a: {networks: [nat, nat]}"),
            "resources.yaml:1: a.networks[1]: network \"nat\" is listed twice");
  EXPECT_EQ(error_of("a: {networks: [], default: true}\nb: {default: yes}\n"),
            "resources.yaml:2: b.default: resource set \"a\" is already the default "
            "(resources.yaml:1); only one set can be");
  EXPECT_EQ(error_of("a: {networks: nat}"),
            "resources.yaml:1: a.networks: expected a list, got \"nat\"");
  EXPECT_EQ(error_of("a: {network: [nat]}"),
            "resources.yaml:1: a.network: unknown key, did you mean \"networks\"?");
  EXPECT_EQ(error_of("a: {default: 1}"),
            "resources.yaml:1: a.default: expected true or false, got \"1\"");
  EXPECT_EQ(error_of("a_b.c: {}"),
            "resources.yaml:1: \"a_b.c\": invalid resource set name (expected a letter, then "
            "letters, digits, '_' or '-')");
  EXPECT_THAT([] { parse_resource_sets(parse_yaml("a: {networks: [x]}", "r.yaml"), {}); },
              testing::ThrowsMessage<Error>(testing::StrEq(
                  "r.yaml:1: a.networks[0]: unknown network \"x\" (networks.yaml defines none)")));
}
