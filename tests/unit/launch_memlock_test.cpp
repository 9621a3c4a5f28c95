// The locked-memory limit a VM with VFIO devices needs (memlock.hpp).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/resource.h>

#include "launch/memlock.hpp"

using namespace slurmvm::launch;
using ::testing::HasSubstr;

namespace {
constexpr std::uint64_t kMiB = 1 << 20;
}

TEST(LaunchMemlock, NoDeviceNeedsNothing) {
  const auto v = memlock_verdict(4096, 0, {64 * 1024, 64 * 1024}, "n1");
  EXPECT_FALSE(v.raise_soft_to);
  EXPECT_FALSE(v.error);
}

TEST(LaunchMemlock, EnoughOrUnlimitedIsFine) {
  EXPECT_FALSE(memlock_verdict(4096, 1, {RLIM_INFINITY, RLIM_INFINITY}, "n1").raise_soft_to);
  const auto v = memlock_verdict(4096, 1, {(4096 + kVfioMemlockSlackMiB) * kMiB, RLIM_INFINITY}, "n1");
  EXPECT_FALSE(v.raise_soft_to);
  EXPECT_FALSE(v.error);
}

TEST(LaunchMemlock, ASoftLimitBelowIsRaisedToTheHardOne) {
  const auto v = memlock_verdict(4096, 2, {64 * 1024, RLIM_INFINITY}, "n1");
  EXPECT_EQ(v.raise_soft_to, RLIM_INFINITY);
  EXPECT_FALSE(v.error);
  EXPECT_EQ(memlock_verdict(4096, 1, {64 * 1024, 8192 * kMiB}, "n1").raise_soft_to, 8192 * kMiB);
}

// Debian's default (8 MiB) everywhere: refused with what to set, before QEMU fails with ENOMEM.
TEST(LaunchMemlock, AHardLimitBelowIsRefusedWithTheFix) {
  const auto v = memlock_verdict(4096, 1, {8 * kMiB, 8 * kMiB}, "node7");
  ASSERT_TRUE(v.error);
  EXPECT_THAT(*v.error, HasSubstr("node node7"));
  EXPECT_THAT(*v.error, HasSubstr("need 4160 MiB of locked memory"));
  EXPECT_THAT(*v.error, HasSubstr("is 8 MiB (hard 8 MiB)"));
  EXPECT_THAT(*v.error, HasSubstr("LimitMEMLOCK=infinity"));
  EXPECT_THAT(*v.error, HasSubstr("PropagateResourceLimits"));
}
