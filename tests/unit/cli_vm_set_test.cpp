// VM sets (src/cli/vm_set.hpp), pcocc's and Slurm's hostlist syntax.
#include <gtest/gtest.h>

#include "error.hpp"
#include "vm_set.hpp"

using namespace slurmvm;
using namespace slurmvm::cli;

namespace {
using Ranks = std::vector<std::uint32_t>;

ErrorKind kind_of(std::string_view set, std::uint32_t count) {
  try {
    parse_vm_set(set, count);
  } catch (const Error& e) {
    return e.kind();
  }
  return ErrorKind::internal;  // no error: never what a caller expects here
}
}  // namespace

TEST(VmSet, FormsPcoccUsersWrite) {
  EXPECT_EQ(parse_vm_set("vm3", 8), Ranks{3});
  EXPECT_EQ(parse_vm_set("vm[0-3,7]", 8), (Ranks{0, 1, 2, 3, 7}));
  EXPECT_EQ(parse_vm_set("vm5,vm0,vm5", 8), (Ranks{0, 5}));
  EXPECT_EQ(parse_vm_set("vm[0-1],vm[4-5]", 8), (Ranks{0, 1, 4, 5}));
  EXPECT_EQ(parse_vm_set("vm10", 11), Ranks{10});
}

TEST(VmSet, MistakesAreUsageErrorsAndMissingVmsNotFound) {
  EXPECT_EQ(kind_of("vm8", 8), ErrorKind::not_found);
  EXPECT_EQ(kind_of("vm[6-9]", 8), ErrorKind::not_found);
  for (const char* bad : {"", "node1", "vm", "vm01", "vmx", "vm[1-", "vm-1", "VM1"}) {
    EXPECT_EQ(kind_of(bad, 8), ErrorKind::usage) << bad;
  }
}

TEST(VmSet, Format) {
  EXPECT_EQ(format_vm_set({3}), "vm3");
  EXPECT_EQ(format_vm_set({0, 1, 2, 3, 7}), "vm[0-3,7]");
  EXPECT_EQ(format_vm_set({0, 2, 4, 5}), "vm[0,2,4-5]");
  EXPECT_EQ(parse_vm_set(format_vm_set({1, 2, 9}), 10), (Ranks{1, 2, 9}));
}
