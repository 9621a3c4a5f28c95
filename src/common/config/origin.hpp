// Which configuration directory something was read from.
#pragma once

#include <string_view>

namespace slurmvm::config {

enum class Origin { system, user };

constexpr std::string_view to_string(Origin origin) noexcept {
  return origin == Origin::user ? "user" : "system";
}

}  // namespace slurmvm::config
