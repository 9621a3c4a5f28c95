// KVM or TCG (kvm_probe.hpp).
#include "kvm_probe.hpp"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "unique_fd.hpp"

namespace slurmvm {

AccelChoice choose_accelerator(const KvmFacts& f) {
  if (!f.opened) {
    return {false, fmt::format("/dev/kvm cannot be opened ({}): using TCG", std::strerror(f.open_errno))};
  }
  if (!f.api_ok) return {false, "/dev/kvm speaks an unknown KVM API version: using TCG"};
  if (!f.vm_created) {
    return {false, fmt::format("KVM cannot create a VM ({}): using TCG", std::strerror(f.create_errno))};
  }
  if (f.pvm_only) {
    return {false, "KVM here is kvm_pvm, which runs only PVM-aware guests: using TCG"};
  }
  return {true, "KVM works: using it"};
}

KvmFacts probe_kvm(const std::filesystem::path& sys_module) {
  KvmFacts f;
  UniqueFd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
  if (!kvm) {
    f.open_errno = errno;
    return f;
  }
  f.opened = true;
  f.api_ok = ::ioctl(kvm.get(), KVM_GET_API_VERSION, 0) == KVM_API_VERSION;
  if (!f.api_ok) return f;
  // The VM is created and dropped at once: no memory or vCPU is given to it.
  UniqueFd vm(::ioctl(kvm.get(), KVM_CREATE_VM, 0));
  if (!vm) {
    f.create_errno = errno;
    return f;
  }
  f.vm_created = true;
  std::error_code ec;
  const bool pvm = std::filesystem::exists(sys_module / "kvm_pvm", ec);
  const bool hw = std::filesystem::exists(sys_module / "kvm_intel", ec) ||
                  std::filesystem::exists(sys_module / "kvm_amd", ec);
  f.pvm_only = pvm && !hw;
  return f;
}

}  // namespace slurmvm
