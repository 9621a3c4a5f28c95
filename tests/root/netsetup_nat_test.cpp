// The nftables batch applied in-process (libnftables, nat.cpp) against the real kernel, inside a
// throw-away network namespace (node_sandbox.hpp): the table appears with the job's rules, a
// batch the kernel refuses changes nothing and says why, the last job's removal deletes the
// table. Skipped without root.
#include <gtest/gtest.h>

#include "netsetup/nat.hpp"
#include "node_sandbox.hpp"

using namespace slurmvm::netsetup;
using namespace slurmvm::test;
using slurmvm::Error;

namespace {
// The ip table as `nft` prints it inside the namespace, "" when there is none.
std::string listed_table(const TestNetns& ns) {
  const auto r = run_argv({"/usr/sbin/ip", "netns", "exec", ns.name(), "/usr/sbin/nft", "list", "table", "ip", "slurm_vm"});
  return r.exit_code == 0 ? r.out : "";
}
}  // namespace

TEST(NetsetupNat, ABatchReplacesTheTableAndARefusedOneChangesNothing) {
  SKIP_UNLESS_ROOT();
  TestNetns ns;
  const std::vector<NatRule> rules = {{7, 0, 40022, 0x0afb0002, 22}};
  {
    EnterNetns in(ns.name());
    apply_nat_batch(nat_table_batch(rules, 1));
  }
  const std::string table = listed_table(ns);
  EXPECT_NE(table.find("40022"), std::string::npos) << table;
  EXPECT_NE(table.find("dnat"), std::string::npos) << table;

  {
    EnterNetns in(ns.name());
    // A good table then a bad rule in one batch: all or nothing, and nft's own diagnosis.
    const std::string bad = nat_table_batch({{8, 0, 40023, 0x0afb0003, 22}}, 2) +
                            "add rule ip slurm_vm no_such_chain accept\n";
    try {
      apply_nat_batch(bad);
      ADD_FAILURE() << "a batch with a rule in a missing chain was applied";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("replacing nftables table ip slurm_vm"), std::string::npos) << what;
      // nft 1.0.6 points its caret at the wrong line of the batch, but names the refusal.
      EXPECT_NE(what.find("Could not process rule: No such file or directory"), std::string::npos) << what;
    }
  }
  EXPECT_EQ(listed_table(ns), table) << "a refused batch changed the table";

  {
    EnterNetns in(ns.name());
    apply_nat_batch(nat_table_batch({}, 0));  // the node's last job gone
  }
  EXPECT_EQ(listed_table(ns), "");
}
