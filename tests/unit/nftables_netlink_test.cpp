// The nf_tables batch that deletes slurm-vm's tables without libnftables (nftables_netlink.hpp):
// its messages as the kernel will read them, and how the kernel's answers are judged. The
// kernel's side is tests/root/netsetup_nat_test.cpp.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "netsetup/nat.hpp"
#include "netsetup/nftables_netlink.hpp"
#include "netsetup/rtnl.hpp"
#include "error.hpp"

using namespace slurmvm::netsetup;

namespace {
struct Parsed {
  std::uint16_t type, flags;
  std::uint32_t seq;
  std::uint8_t family;
  std::uint16_t res_id;
  std::string table;  // NFTA_TABLE_NAME without its NUL, "" when absent
};

std::vector<Parsed> parse(const std::vector<unsigned char>& b) {
  std::vector<Parsed> out;
  std::size_t off = 0;
  while (off + sizeof(nlmsghdr) <= b.size()) {
    nlmsghdr h;
    std::memcpy(&h, b.data() + off, sizeof h);
    EXPECT_GE(h.nlmsg_len, NLMSG_HDRLEN + sizeof(nfgenmsg));
    EXPECT_LE(off + h.nlmsg_len, b.size());
    nfgenmsg g;
    std::memcpy(&g, b.data() + off + NLMSG_HDRLEN, sizeof g);
    Parsed p{h.nlmsg_type, h.nlmsg_flags, h.nlmsg_seq, g.nfgen_family, ntohs(g.res_id), ""};
    std::size_t a = off + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof g);
    while (a + sizeof(nlattr) <= off + h.nlmsg_len) {
      nlattr attr;
      std::memcpy(&attr, b.data() + a, sizeof attr);
      if (attr.nla_type == NFTA_TABLE_NAME) {
        const char* s = reinterpret_cast<const char*>(b.data() + a + NLA_HDRLEN);
        EXPECT_EQ(s[attr.nla_len - NLA_HDRLEN - 1], '\0') << "the name is NUL-terminated";
        p.table.assign(s, attr.nla_len - NLA_HDRLEN - 1);
      }
      a += NLA_ALIGN(attr.nla_len);
    }
    out.push_back(p);
    off += NLMSG_ALIGN(h.nlmsg_len);
  }
  EXPECT_EQ(off, b.size());
  return out;
}

constexpr std::uint16_t nft(int m) { return static_cast<std::uint16_t>((NFNL_SUBSYS_NFTABLES << 8) | m); }

std::vector<unsigned char> ack(std::uint32_t seq, int error) {
  std::vector<unsigned char> b(NLMSG_HDRLEN + sizeof(nlmsgerr));
  nlmsghdr h{};
  h.nlmsg_len = static_cast<std::uint32_t>(b.size());
  h.nlmsg_type = NLMSG_ERROR;
  h.nlmsg_seq = seq;
  nlmsgerr e{};
  e.error = error;
  std::memcpy(b.data(), &h, sizeof h);
  std::memcpy(b.data() + NLMSG_HDRLEN, &e, sizeof e);
  return b;
}
}  // namespace

TEST(NftablesNetlink, DeleteBatchIsAddThenDeleteForBothFamilies) {
  const auto msgs = parse(delete_tables_batch("slurm_vm", 7));
  ASSERT_EQ(msgs.size(), 6U);
  EXPECT_EQ(msgs[0].type, NFNL_MSG_BATCH_BEGIN);
  EXPECT_EQ(msgs[0].res_id, NFNL_SUBSYS_NFTABLES);
  EXPECT_EQ(msgs[5].type, NFNL_MSG_BATCH_END);
  EXPECT_EQ(msgs[5].res_id, NFNL_SUBSYS_NFTABLES);
  const std::uint16_t types[] = {nft(NFT_MSG_NEWTABLE), nft(NFT_MSG_DELTABLE), nft(NFT_MSG_NEWTABLE), nft(NFT_MSG_DELTABLE)};
  const std::uint8_t families[] = {NFPROTO_IPV4, NFPROTO_IPV4, NFPROTO_BRIDGE, NFPROTO_BRIDGE};
  for (std::size_t i = 0; i < 4; ++i) {
    const auto& m = msgs[i + 1];
    EXPECT_EQ(m.type, types[i]) << i;
    EXPECT_EQ(m.family, families[i]) << i;
    EXPECT_EQ(m.table, "slurm_vm") << i;
    EXPECT_TRUE(m.flags & NLM_F_REQUEST) << i;
    EXPECT_TRUE(m.flags & NLM_F_ACK) << i;
    // Adding never fails on an existing table (no NLM_F_EXCL), so the delete always has one.
    EXPECT_EQ(bool(m.flags & NLM_F_CREATE), m.type == nft(NFT_MSG_NEWTABLE)) << i;
    EXPECT_FALSE(m.flags & NLM_F_EXCL) << i;
  }
  for (std::size_t i = 0; i < msgs.size(); ++i) EXPECT_EQ(msgs[i].seq, 7 + i);
}

TEST(NftablesNetlink, OutcomeWaitsForEveryAckAndReportsTheFirstError) {
  std::vector<unsigned char> answers;
  auto add = [&](std::vector<unsigned char> m) { answers.insert(answers.end(), m.begin(), m.end()); };
  add(ack(2, 0));
  add(ack(3, 0));
  EXPECT_EQ(batch_outcome(answers, 1, 4), -EAGAIN);  // two still missing
  add(ack(4, 0));
  add(ack(5, 0));
  EXPECT_EQ(batch_outcome(answers, 1, 4), 0);
  add(ack(9, -ENOENT));  // another sequence's error still counts: the kernel aborted
  EXPECT_EQ(batch_outcome(answers, 1, 4), -ENOENT);
  EXPECT_EQ(batch_outcome(ack(3, -EPERM), 1, 4), -EPERM);
  EXPECT_EQ(batch_outcome({}, 1, 4), -EAGAIN);
}

// The netlink shortcut is taken exactly when the text batch would only delete the tables.
TEST(NftablesNetlink, TablesDeletedExactlyWhenTheBatchOnlyDeletes) {
  const std::string deletes_only = nat_table_batch({}, 0);
  std::vector<NodeTable> tables(5);
  tables[1].vm_jobs = 1;
  tables[2].forward_only_vms = true;
  tables[3].bridged.push_back({1, 0, "svm1.0", {0x42, 0, 0, 0, 0, 1}, false});
  tables[4].reverse_nat.push_back({1, 0, 60222, 0x0a000002, 22});  // rules of no VM job: none
  for (std::size_t i = 0; i < tables.size(); ++i) {
    EXPECT_EQ(nat_tables_deleted(tables[i]), nat_table_batch(tables[i]) == deletes_only) << i;
  }
  EXPECT_TRUE(nat_tables_deleted(tables[0]));
  EXPECT_FALSE(nat_tables_deleted(tables[1]));
}

// An error field no kernel sends (tests/fuzz/node_text_fuzz found INT_MIN, whose negation is
// undefined) reads as EPROTO, in both readers of netlink answers.
TEST(NftablesNetlink, AnImpossibleErrorValueIsEproto) {
  EXPECT_EQ(batch_outcome(ack(2, std::numeric_limits<int>::min()), 1, 4), -EPROTO);
  EXPECT_EQ(batch_outcome(ack(2, 5), 1, 4), -EPROTO);
  EXPECT_EQ(netlink_error(-ENOENT), -ENOENT);
  EXPECT_EQ(netlink_error(0), 0);
  try {
    for_each_rtnl_message(ack(1, std::numeric_limits<int>::min()), [](std::uint16_t, std::span<const unsigned char>) {});
    ADD_FAILURE() << "an NLMSG_ERROR answer was accepted";
  } catch (const slurmvm::Error& e) {
    EXPECT_EQ(e.errnum(), EPROTO);
  }
}
