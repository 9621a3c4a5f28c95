// The pure part of the dnsmasq jail (dnsmasq_jail.hpp): the start time that identifies the
// jailed process, read from /proc/<pid>/stat even when its command name is hostile. The jail
// itself runs against the real kernel in tests/root/prolog_node_test.sh.
#include <gtest/gtest.h>

#include "netsetup/dnsmasq_jail.hpp"

using slurmvm::netsetup::parse_proc_start_time;

TEST(DnsmasqJail, StartTimeFromProcStat) {
  // Field 22 (starttime) of a real line: pid (comm) state ppid ... 
  const char* stat =
      "4711 (dnsmasq) S 1 4711 4711 0 -1 4194560 120 0 0 0 0 0 0 0 20 0 1 0 987654 12345678 200 "
      "18446744073709551615 1 1 0 0 0 0 0 4096 92675 0 0 0 17 1 0 0 0 0 0";
  EXPECT_EQ(parse_proc_start_time(stat), 987654u);
  // A command name with spaces and parentheses (a process names itself): the last ')' counts.
  const char* odd = "4712 (a) b) (c ) R 1 4712 4712 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 555 1 1";
  EXPECT_EQ(parse_proc_start_time(odd), 555u);
  EXPECT_FALSE(parse_proc_start_time("4713 (x) S 1 2 3"));
  EXPECT_FALSE(parse_proc_start_time("no parenthesis at all"));
  EXPECT_FALSE(parse_proc_start_time("1 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 12a 1"));
}
