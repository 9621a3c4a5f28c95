// escape_for_log (log.hpp): what a user controls can never forge a log line (issue 11, L2).
#include <gtest/gtest.h>

#include <string>

#include "log.hpp"

using slurmvm::escape_for_log;

TEST(LogEscape, ControlCharactersBecomeVisible) {
  EXPECT_EQ(escape_for_log("plain text, 100% ok"), "plain text, 100% ok");
  EXPECT_EQ(escape_for_log("tiny:1\njob 123: node cleaned"), "tiny:1\\njob 123: node cleaned");
  EXPECT_EQ(escape_for_log("a\rb\tc"), "a\\rb\\tc");
  EXPECT_EQ(escape_for_log("\x1b[2Jclear"), "\\x1b[2Jclear");
  EXPECT_EQ(escape_for_log(std::string("nul\0here", 8)), "nul\\x00here");
  EXPECT_EQ(escape_for_log("del\x7f"), "del\\x7f");
  // A backslash is escaped too, so "\\n" typed by a user stays distinguishable from a newline.
  EXPECT_EQ(escape_for_log("back\\n"), "back\\\\n");
  // UTF-8 passes unchanged...
  EXPECT_EQ(escape_for_log("nœud 节点 🖥"), "nœud 节点 🖥");
  // ...but not the controls it can carry: 8-bit CSI (U+009B), a bidi override, a line separator.
  EXPECT_EQ(escape_for_log("a\u009b2Jb"), "a\\u009b2Jb");
  EXPECT_EQ(escape_for_log("x\u202eevil"), "x\\u202eevil");
  EXPECT_EQ(escape_for_log("l1\u2028l2"), "l1\\u2028l2");
  // Bytes that are not UTF-8 (a raw 0x9b, a lone continuation, an overlong '/', a cut sequence).
  EXPECT_EQ(escape_for_log("\x9b[2J"), "\\x9b[2J");
  EXPECT_EQ(escape_for_log("\x80"), "\\x80");
  EXPECT_EQ(escape_for_log("\xc0\xaf"), "\\xc0\\xaf");
  EXPECT_EQ(escape_for_log("\xe2\x82"), "\\xe2\\x82");
}

TEST(LogEscape, LongMessagesAreCut) {
  const std::string big(5000, 'x');
  const std::string out = escape_for_log(big);
  EXPECT_EQ(out, std::string(4096, 'x') + "... (904 more bytes)");
  EXPECT_EQ(escape_for_log("abcdef", 3), "abc... (3 more bytes)");
}
