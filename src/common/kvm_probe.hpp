// Whether QEMU can use KVM here, or must emulate the CPU (TCG). /dev/kvm existing is not
// enough: the task's user may lack access to it, a container may expose it without letting a
// VM be created, and a PVM host (kvm_pvm, a nested hypervisor that runs only PVM-aware guests;
// measured in docs/design.md §7.5) creates VMs that stock
// QEMU cannot boot. So: /dev/kvm opens read-write, KVM_CREATE_VM succeeds, and the KVM vendor
// module is not PVM's alone.
#pragma once

#include <filesystem>
#include <string>

namespace slurmvm {

struct KvmFacts {
  bool opened = false;          // open("/dev/kvm", O_RDWR)
  int open_errno = 0;
  bool api_ok = false;          // KVM_GET_API_VERSION == 12
  bool vm_created = false;      // KVM_CREATE_VM
  int create_errno = 0;
  bool pvm_only = false;        // kvm_pvm loaded, kvm_intel and kvm_amd not
};

struct AccelChoice {
  bool kvm = false;
  std::string reason;  // why, for `vm-launch -v` and docs
};

// Pure: the decision from the facts.
AccelChoice choose_accelerator(const KvmFacts& facts);

// Gathers the facts on this machine; `sys_module` is /sys/module (tests pass a fake tree).
KvmFacts probe_kvm(const std::filesystem::path& sys_module = "/sys/module");

}  // namespace slurmvm
