// What the templates.yaml tests share: loading system and user template files from text with a
// resource-set map, and the config error a text gives.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "config/templates_loader.hpp"
#include "error.hpp"

namespace slurmvm::test {

inline const config::NetworkMap kNoNetworks;

inline config::ResourceSetMap resource_sets(std::string_view text = "default: {default: true}\nbig: {}\n") {
  return config::parse_resource_sets(config::parse_yaml(text, "resources.yaml"), kNoNetworks);
}

inline config::TemplateSet load(std::string_view system, std::string_view user = "",
                                const config::ResourceSetMap& sets = resource_sets()) {
  const std::vector<config::Value> sys{config::parse_yaml(system, "sys.yaml")};
  const std::vector<config::Value> usr{config::parse_yaml(user, "user.yaml")};
  return config::load_templates(sys, usr, sets);
}

inline std::string error_of(std::string_view system, std::string_view user = "",
                            const config::ResourceSetMap& sets = resource_sets()) {
  try {
    load(system, user, sets);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    return e.what();
  }
  return "no error";
}

}  // namespace slurmvm::test
