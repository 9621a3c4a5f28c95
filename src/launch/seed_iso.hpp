// Writes a VM's NoCloud seed: meta-data and user-data in <vmdir>/seed/, packed into an ISO 9660
// image labelled `cidata` (Rock Ridge and Joliet names, as cloud-init and the tiny guest mount
// it) by genisoimage, or xorriso when that is what is installed.
#pragma once

#include <filesystem>

#include "launch/seed.hpp"

namespace slurmvm::launch {

void write_seed_iso(const SeedFiles& files, const std::filesystem::path& seed_dir,
                    const std::filesystem::path& iso);

// A MIME boundary unlikely to occur anywhere: "==slurm-vm-<32 random hex digits>==".
std::string random_mime_boundary();

}  // namespace slurmvm::launch
