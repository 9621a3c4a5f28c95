// Creating a directory only its owner may use, the one way every program of slurm-vm does it:
// root's run-directory parts on a node, the user's job directory under the home directory. The
// walk goes down from `base` with *at() calls, so each step is checked on the directory
// actually opened: existing parents may be symlinks (a ~/.local moved to scratch is the user's
// choice), the directory itself may not be one, and it must belong to the effective uid.
#pragma once

#include <filesystem>

namespace slurmvm {

// What to do with an existing directory whose mode grants more than asked.
enum class LooseMode {
  tighten,  // chmod it to the mode asked (ours anyway)
  refuse,   // Error(config): someone may have put something there meanwhile (the ledger)
};

// Creates `dir` (which must be below `base`, an existing directory) and its missing parents
// below `base` (0700), `dir` itself with `mode`; checks and fixes an existing one as above.
// Throws Error naming the path.
void make_private_dir(const std::filesystem::path& base, const std::filesystem::path& dir, unsigned mode = 0700,
                      LooseMode loose = LooseMode::tighten);

}  // namespace slurmvm
