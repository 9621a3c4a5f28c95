// KVM or TCG (kvm_probe.hpp): KVM only when it really works.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>

#include "error.hpp"
#include "kvm_probe.hpp"

using slurmvm::Error;
using slurmvm::ErrorKind;
using namespace slurmvm;
using testing::HasSubstr;

namespace {

KvmFacts facts(bool opened, bool api_ok, bool vm_created, bool pvm_only) {
  KvmFacts f;
  f.opened = opened;
  f.api_ok = api_ok;
  f.vm_created = vm_created;
  f.create_errno = vm_created ? 0 : EPERM;
  f.pvm_only = pvm_only;
  return f;
}

}  // namespace

TEST(LaunchKvm, TcgUnlessKvmReallyWorks) {
  KvmFacts f;
  f.open_errno = ENOENT;
  EXPECT_FALSE(choose_accelerator(f).kvm);
  EXPECT_THAT(choose_accelerator(f).reason, HasSubstr("cannot be opened"));
  EXPECT_FALSE(choose_accelerator(facts(true, false, false, false)).kvm);
  EXPECT_FALSE(choose_accelerator(facts(true, true, false, false)).kvm);
  EXPECT_FALSE(choose_accelerator(facts(true, true, true, true)).kvm);
  EXPECT_THAT(choose_accelerator(facts(true, true, true, true)).reason, HasSubstr("kvm_pvm"));
  EXPECT_TRUE(choose_accelerator(facts(true, true, true, false)).kvm);
}
