// pcocc habits (pcocc_habits.hpp).
#include "pcocc_habits.hpp"

#include <cstdlib>
#include <cstring>
#include <utility>

#include "log.hpp"

extern char** environ;

namespace slurmvm::cli {

std::optional<std::string> pcocc_only_verb(std::string_view verb) {
  static constexpr std::pair<std::string_view, std::string_view> kVerbs[] = {
      {"help", "use `man vm` or `vm VERB --help`"},
      {"display", "remote-display is not supported: `vm console vmN` attaches to the serial console"},
      {"docker", "pcocc's Docker VMs are not supported: boot a template whose image runs dockerd and reach it "
                 "with `vm ssh -L`"},
      {"agent", "slurm-vm needs no agent of its own: `vm exec` uses qemu-guest-agent, `vm reset` and "
                "`vm monitor-cmd` talk to QEMU"},
      {"internal", "slurm-vm's node setup is run by Slurm's Prolog and Epilog (vm-prolog, vm-epilog), not by the CLI"},
  };
  for (const auto& [name, hint] : kVerbs) {
    if (verb == name) return "`pcocc " + std::string(name) + "` has no `vm " + std::string(name) + "`: " + std::string(hint);
  }
  return std::nullopt;
}

void warn_pcocc_environment() {
  const char* sys = std::getenv("PCOCC_SYSTEM_CONF_DIR");
  const char* ours = std::getenv("SLURM_VM_SYSCONFDIR");
  if (sys != nullptr && *sys != '\0' && (ours == nullptr || *ours == '\0')) {
    log_warning("PCOCC_SYSTEM_CONF_DIR is set but not read: slurm-vm's system configuration comes from "
                "SLURM_VM_SYSCONFDIR (default " SLURM_VM_DEFAULT_SYSCONFDIR ")");
  }
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "PCOCC_NET_", 10) == 0) {
      const char* eq = std::strchr(*e, '=');
      log_warning("{} is set but not read: slurm-vm derives MACs and GUIDs from the job and the VM's rank "
                  "(docs/addressing.md)",
                  std::string(*e, eq != nullptr ? static_cast<std::size_t>(eq - *e) : std::strlen(*e)));
      break;
    }
  }
}

}  // namespace slurmvm::cli
