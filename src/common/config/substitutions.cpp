// pcocc's %{...} substitutions (substitutions.hpp).
#include "config/substitutions.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <vector>

#include "config/identity.hpp"
#include "error.hpp"

namespace slurmvm::config {
namespace {

enum class Kind { literal, homedir, user, env, job };

struct Piece {
  Kind kind;
  std::string_view text;  // the literal text, the variable name, or a whole job-dependent %{...}
};

constexpr std::array<std::string_view, 3> kJobDependent = {"clusterdir", "clusteruser", "vm_rank"};
constexpr const char* kKnown =
    "%{env:VAR}, %{homedir}, %{user}, %{clusterdir}, %{clusteruser}, %{vm_rank}";

bool is_env_name(std::string_view name) noexcept {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// Splits `text` into pieces; returns why it cannot be split instead.
std::optional<std::string> split(std::string_view text, std::vector<Piece>& out) {
  if (text == "~" || text.starts_with("~/")) {
    out.push_back({Kind::homedir, {}});
    text.remove_prefix(1);
  }
  while (!text.empty()) {
    const std::size_t open = text.find("%{");
    if (open != 0) {
      out.push_back({Kind::literal, text.substr(0, open)});
      if (open == std::string_view::npos) break;
      text.remove_prefix(open);
    }
    const std::size_t close = text.find('}');
    if (close == std::string_view::npos) {
      return fmt::format("unterminated substitution \"{}\" (missing '}}')", text);
    }
    const std::string_view whole = text.substr(0, close + 1);
    const std::string_view name = text.substr(2, close - 2);
    if (name == "homedir") {
      out.push_back({Kind::homedir, name});
    } else if (name == "user") {
      out.push_back({Kind::user, name});
    } else if (name.starts_with("env:")) {
      if (!is_env_name(name.substr(4))) {
        return fmt::format("invalid environment variable name in \"{}\"", whole);
      }
      out.push_back({Kind::env, name.substr(4)});
    } else if (std::find(kJobDependent.begin(), kJobDependent.end(), name) != kJobDependent.end()) {
      out.push_back({Kind::job, whole});
    } else {
      return fmt::format("unknown substitution \"{}\" (known: {})", whole, kKnown);
    }
    text.remove_prefix(close + 1);
  }
  return std::nullopt;
}

const std::string& require(const std::string& value, std::string_view what, std::string_view text) {
  if (value.empty()) {
    throw Error(fmt::format("cannot expand \"{}\": {} is unknown", text, what), ErrorKind::config);
  }
  return value;
}

}  // namespace

SubstitutionContext SubstitutionContext::for_current_process() {
  UserIdentity id = current_identity();
  return {std::move(id.name), std::move(id.home), process_env};
}

std::optional<std::string> substitution_error(std::string_view text) {
  std::vector<Piece> pieces;
  return split(text, pieces);
}

std::string expand_substitutions(std::string_view text, const SubstitutionContext& context) {
  std::vector<Piece> pieces;
  if (auto error = split(text, pieces)) throw Error(*error, ErrorKind::config);
  std::string out;
  for (const Piece& p : pieces) {
    switch (p.kind) {
      case Kind::literal:
      case Kind::job:
        out += p.text;
        break;
      case Kind::homedir:
        out += require(context.homedir, "the home directory", text);
        break;
      case Kind::user:
        out += require(context.user, "the user name", text);
        break;
      case Kind::env: {
        const std::string name(p.text);
        const auto value = context.getenv ? context.getenv(name) : std::nullopt;
        if (!value) {
          throw Error(
              fmt::format("cannot expand \"{}\": environment variable {} is not set", text, name),
              ErrorKind::config);
        }
        out += *value;
        break;
      }
    }
  }
  return out;
}

}  // namespace slurmvm::config
