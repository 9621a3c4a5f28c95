// The JSON stream decoder (json_stream.hpp) that OVSDB's and QEMU's readers share: values sent
// back to back without framing, split where they end whatever the chunking, garbage and runaway
// values refused with the peer's name, and the guest agent's 0xFF resync.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "error.hpp"
#include "json_stream.hpp"

using slurmvm::Error;
using slurmvm::JsonStreamDecoder;
using ::testing::HasSubstr;

TEST(JsonStream, SplitsConcatenatedObjectsWithoutNewlines) {
  JsonStreamDecoder d;
  d.feed(R"({"id":1,"result":[]}{"id":2,"result":{"a":[1,{"b":2}]}} {"method":"echo","params":[],"id":"e"})");
  auto a = d.next();
  auto b = d.next();
  auto c = d.next();
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ((*a)["id"], 1);
  EXPECT_EQ((*b)["result"]["a"][1]["b"], 2);
  EXPECT_EQ((*c)["method"], "echo");
  EXPECT_FALSE(d.next());
  EXPECT_TRUE(d.idle());
}

TEST(JsonStream, WaitsForTheRestOfAMessageFedByteByByte) {
  const std::string msg = R"({"s":"br{a}ce[s] \"quoted\" \\","n":[1,2,{"x":"}"}]})";
  JsonStreamDecoder d;
  for (std::size_t i = 0; i + 1 < msg.size(); ++i) {
    d.feed(msg.substr(i, 1));
    ASSERT_FALSE(d.next()) << "early at byte " << i;
    EXPECT_FALSE(d.idle());
  }
  d.feed(msg.substr(msg.size() - 1));
  auto v = d.next();
  ASSERT_TRUE(v);
  EXPECT_EQ((*v)["s"], "br{a}ce[s] \"quoted\" \\");
  EXPECT_EQ((*v)["n"][2]["x"], "}");
}

TEST(JsonStream, HandlesUtf8AndEscapedQuotesAcrossChunks) {
  JsonStreamDecoder d;
  d.feed(R"({"name":"caf\u00e9 \"x\)");  // ends inside an escape
  EXPECT_FALSE(d.next());
  d.feed("\"\xc3\xa9\"}{\"id\":3}");  // the escaped quote, then the real end
  auto v = d.next();
  ASSERT_TRUE(v);
  EXPECT_EQ((*v)["name"], "caf\xc3\xa9 \"x\"\xc3\xa9");
  EXPECT_EQ((*d.next())["id"], 3);
}

TEST(JsonStream, RejectsGarbageAndOversizeMessages) {
  JsonStreamDecoder d;
  d.feed("42");
  EXPECT_THROW(d.next(), Error);

  JsonStreamDecoder bad;
  bad.feed("{\"a\":1,}");
  EXPECT_THROW(bad.next(), Error);

  JsonStreamDecoder small({.max_message = 16});
  small.feed(R"({"aaaaaaaaaaaaaaaaaaaaaaaa":1})");
  EXPECT_THROW(small.next(), Error);
}

TEST(JsonStream, NewlineDelimitedQmpAndPrettyPrintedValues) {
  JsonStreamDecoder d({.peer = "QEMU"});
  d.feed("{\"QMP\": {\"version\": {}}}\r\n{\n  \"return\": {}\n}\n  \r\n");
  EXPECT_TRUE(d.next()->contains("QMP"));
  EXPECT_TRUE(d.next()->contains("return"));
  EXPECT_FALSE(d.next());
  EXPECT_TRUE(d.idle());
}

TEST(JsonStream, ErrorsNameThePeer) {
  JsonStreamDecoder d({.peer = "QEMU"});
  d.feed("garbage\n{}");
  try {
    d.next();
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("QEMU: unexpected byte 0x67"));
  }
}

// guest-sync-delimited: the agent sends 0xFF, then its answer; a partial reply left in the
// channel for an earlier client is dropped with everything else before the 0xFF.
TEST(JsonStream, GuestAgentResyncDropsWhatCameBeforeTheDelimiter) {
  JsonStreamDecoder d({.peer = "the guest agent", .resync_on_ff = true});
  d.feed("{\"return\": {\"stale\": [1, \"}\"");
  EXPECT_FALSE(d.next());
  d.feed("\xff{\"return\": 42}\n");
  const auto v = d.next();
  ASSERT_TRUE(v);
  EXPECT_EQ((*v)["return"], 42);
  EXPECT_TRUE(d.idle());
  JsonStreamDecoder plain;  // without the option, 0xFF is garbage
  plain.feed("\xff{}");
  EXPECT_THROW(plain.next(), Error);
}
