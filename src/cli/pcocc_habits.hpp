// What a pcocc user types that slurm-vm does not do the same way, caught before it can do
// something else without a word (docs/migrating-from-pcocc.md): pcocc verbs slurm-vm has no
// form of, and pcocc's environment variables.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace slurmvm::cli {

// For a verb pcocc had and `vm` has not: what to use instead. nullopt for any other word.
std::optional<std::string> pcocc_only_verb(std::string_view verb);

// Warns (once) about pcocc's environment variables that slurm-vm does not read and that a
// pcocc user may still export: PCOCC_SYSTEM_CONF_DIR and PCOCC_NET_*.
void warn_pcocc_environment();

}  // namespace slurmvm::cli
