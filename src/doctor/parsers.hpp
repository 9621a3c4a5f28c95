// The text vm doctor reads from other programs and files, parsed apart from where it comes from
// so that each format is unit-tested: `scontrol show config`, plugstack.conf, `slurmd -V`,
// `nft list ruleset`, and the plugin's ELF symbol table.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace slurmvm::doctor {

// "Key = value" lines of `scontrol show config` (the keys as printed: Prolog, PrologFlags, ...).
std::map<std::string, std::string, std::less<>> parse_scontrol_config(std::string_view text);

// One line of plugstack.conf (spank(8)): `required|optional PATH [ARGS...]`, or `include GLOB`.
struct PlugstackLine {
  bool include = false;  // then `path` is the glob
  bool required = false;
  std::string path;
  std::vector<std::string> args;
  int line = 0;
};
std::vector<PlugstackLine> parse_plugstack(std::string_view text);

// (major, minor) from `slurmd -V` / `srun --version` ("slurm 22.05.8", "slurm-wlm 22.05.8").
std::optional<std::pair<int, int>> parse_slurm_version(std::string_view text);

// The chains of `nft list ruleset` that hook `forward` with `policy drop`, as "FAMILY TABLE
// CHAIN", tables named `skip_table` left out (slurm-vm's own).
std::vector<std::string> forward_drop_chains(std::string_view ruleset, std::string_view skip_table);

// The value of a 4-byte data symbol of an ELF64 little-endian shared object (the plugin's
// plugin_version, as Slurm's loader reads it); nullopt when the file is not one or lacks it.
std::optional<std::uint32_t> elf_u32_symbol(std::string_view elf, std::string_view name);

// "QEMU emulator version 7.2.15 (...)" -> (7, 2).
std::optional<std::pair<int, int>> parse_qemu_version(std::string_view text);

}  // namespace slurmvm::doctor
