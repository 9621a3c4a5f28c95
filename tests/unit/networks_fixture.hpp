// What the networks.yaml tests share: the networks a text defines, and the config error it gives.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "config/network.hpp"
#include "error.hpp"

namespace slurmvm::test {

inline config::NetworkMap networks(std::string_view text) {
  return config::parse_networks(config::parse_yaml(text, "networks.yaml"));
}

// The error loading `text` gives.
inline std::string error_of(std::string_view text) {
  try {
    networks(text);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    return e.what();
  }
  return "no error";
}

}  // namespace slurmvm::test
