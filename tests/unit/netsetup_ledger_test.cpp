// The ledger: records survive as JSON lines, undo replays them in reverse, idempotently,
// keeps the file when an undo fails, and tolerates a torn last line. A temp dir, fake handlers.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "error.hpp"
#include "netsetup/ledger.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using slurmvm::Error;
using namespace slurmvm::netsetup;

namespace {

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/svmt-ledger-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    dir_ = base_ / "run" / "ledger";
  }
  void TearDown() override { fs::remove_all(base_); }

  std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  void append_raw(const fs::path& p, std::string_view bytes) {
    std::ofstream out(p, std::ios::app);
    out << bytes;
  }

  fs::path base_;
  fs::path dir_;
};

}  // namespace

TEST_F(LedgerTest, RecordsOneJsonLinePerActionInAPrivateDirectory) {
  {
    auto l = Ledger::open(dir_, 42);
    l.record({{"op", "tap.create"}, {"name", "svm42-0"}, {"owner", 1000}});
    l.record({{"op", "ovs.port"}, {"bridge", "br-int"}, {"name", "svm42-0"}});
    EXPECT_EQ(l.path(), dir_ / "42.jsonl");
  }
  EXPECT_EQ(slurp(dir_ / "42.jsonl"),
            "{\"name\":\"svm42-0\",\"op\":\"tap.create\",\"owner\":1000}\n"
            "{\"bridge\":\"br-int\",\"name\":\"svm42-0\",\"op\":\"ovs.port\"}\n");
  struct stat st {};
  ASSERT_EQ(::stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(::stat((dir_ / "42.jsonl").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(LedgerTest, RejectsActionsWithoutOp) {
  auto l = Ledger::open(dir_, 1);
  EXPECT_THROW(l.record({{"name", "x"}}), Error);
  EXPECT_THROW(l.record({{"op", ""}}), Error);
  EXPECT_THROW(l.record(json::array({1, 2})), Error);
}

TEST_F(LedgerTest, RefusesADirectoryOthersCanWrite) {
  fs::create_directories(dir_);
  ASSERT_EQ(::chmod(dir_.c_str(), 0777), 0);
  EXPECT_THROW(Ledger::open(dir_, 1), Error);
  ASSERT_EQ(::chmod(dir_.c_str(), 0700), 0);
  EXPECT_NO_THROW(Ledger::open(dir_, 1));
}

TEST_F(LedgerTest, RefusesASymlinkedDirectory) {
  fs::create_directories(base_ / "real");
  ASSERT_EQ(::chmod((base_ / "real").c_str(), 0700), 0);
  fs::create_directory_symlink(base_ / "real", base_ / "link");
  EXPECT_THROW(Ledger::open(base_ / "link", 1), Error);
}

TEST_F(LedgerTest, UndoReplaysInReverseAndRemovesTheFile) {
  {
    auto l = Ledger::open(dir_, 7);
    l.record({{"op", "a"}, {"n", 1}});
    l.record({{"op", "b"}, {"n", 2}});
    l.record({{"op", "a"}, {"n", 3}});
  }
  std::vector<int> seen;
  UndoHandlers h{
      {"a", [&](const json& j) { seen.push_back(j["n"].get<int>()); }},
      {"b", [&](const json& j) { seen.push_back(10 * j["n"].get<int>()); }},
  };
  auto r = undo_ledger(dir_, 7, h);
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.ledger_found);
  EXPECT_TRUE(r.removed);
  EXPECT_EQ(r.undone, 3u);
  EXPECT_EQ(seen, (std::vector<int>{3, 20, 1}));
  EXPECT_FALSE(fs::exists(dir_ / "7.jsonl"));
}

// Work an undo left running (the link group's deletion) is awaited after the last handler; its
// failure keeps the ledger for the next attempt, like a handler's.
TEST_F(LedgerTest, AFailureFinishingTheUndoKeepsTheLedger) {
  {
    auto l = Ledger::open(dir_, 8);
    l.record({{"op", "a"}});
  }
  UndoHandlers h{{"a", [](const json&) {}}};
  int settled = 0;
  auto r = undo_ledger(dir_, 8, h, std::chrono::seconds(1), [&] {
    ++settled;
    throw Error("deleting the devices of link group 0x53560009: Operation not permitted");
  });
  EXPECT_EQ(settled, 1);
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.removed);
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_EQ(r.failures[0].line, 0u);
  EXPECT_NE(r.failures[0].error.find("link group 0x53560009"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir_ / "8.jsonl"));
  // The next attempt, whose work finishes: the ledger goes.
  auto again = undo_ledger(dir_, 8, h, std::chrono::seconds(1), [&] { ++settled; });
  EXPECT_TRUE(again.ok());
  EXPECT_TRUE(again.removed);
  EXPECT_EQ(settled, 2);
}

TEST_F(LedgerTest, UndoIsIdempotent) {
  // Handlers that treat "already gone" as success, as the real ones must.
  std::set<std::string> things{"t1", "t2"};
  UndoHandlers h{{"thing", [&](const json& j) { things.erase(j["name"].get<std::string>()); }}};
  {
    auto l = Ledger::open(dir_, 9);
    l.record({{"op", "thing"}, {"name", "t1"}});
    l.record({{"op", "thing"}, {"name", "t2"}});
    l.record({{"op", "thing"}, {"name", "t3"}});  // recorded, never made (crash)
  }
  EXPECT_TRUE(undo_ledger(dir_, 9, h).ok());
  EXPECT_TRUE(things.empty());
  // The epilog runs twice: the second run finds nothing and succeeds.
  auto again = undo_ledger(dir_, 9, h);
  EXPECT_TRUE(again.ok());
  EXPECT_FALSE(again.ledger_found);
  // No ledger directory at all: also nothing to do.
  EXPECT_TRUE(undo_ledger(base_ / "nowhere", 9, h).ok());
}

TEST_F(LedgerTest, AFailingUndoKeepsTheLedgerAndSaysWhichOpFailed) {
  {
    auto l = Ledger::open(dir_, 5);
    l.record({{"op", "tap.create"}, {"name", "a"}});
    l.record({{"op", "ovs.port"}, {"name", "a"}});
    l.record({{"op", "tap.create"}, {"name", "b"}});
  }
  std::vector<std::string> undone;
  UndoHandlers h{
      {"tap.create", [&](const json& j) { undone.push_back(j["name"].get<std::string>()); }},
      {"ovs.port",
       [&](const json&) { throw Error("ovsdb: timed out", slurmvm::ErrorKind::timeout); }},
  };
  const std::string before = slurp(dir_ / "5.jsonl");
  auto r = undo_ledger(dir_, 5, h);
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.removed);
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_EQ(r.failures[0].line, 2u);
  EXPECT_EQ(r.failures[0].op, "ovs.port");
  EXPECT_NE(r.failures[0].error.find("ovsdb: timed out"), std::string::npos);
  // The replay went on past the failure: earlier actions were still undone.
  EXPECT_EQ(undone, (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(r.undone, 2u);
  // Kept whole, so the next attempt replays everything.
  EXPECT_EQ(slurp(dir_ / "5.jsonl"), before);
}

TEST_F(LedgerTest, AnOpWithoutHandlerIsAFailure) {
  { Ledger::open(dir_, 6).record({{"op", "mystery"}}); }
  auto r = undo_ledger(dir_, 6, {});
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_EQ(r.failures[0].op, "mystery");
  EXPECT_TRUE(fs::exists(dir_ / "6.jsonl"));
}

TEST_F(LedgerTest, TornLastLineIsIgnoredByUndoAndCutByTheNextOpen) {
  { Ledger::open(dir_, 3).record({{"op", "a"}, {"n", 1}}); }
  append_raw(dir_ / "3.jsonl", "{\"op\":\"a\",\"n\":");  // crash mid-write
  auto c = read_ledger(dir_ / "3.jsonl");
  EXPECT_TRUE(c.torn_tail);
  ASSERT_EQ(c.entries.size(), 1u);
  EXPECT_TRUE(c.corrupt_lines.empty());

  // A later prolog appends after cutting the fragment off, so records never get glued.
  { Ledger::open(dir_, 3).record({{"op", "a"}, {"n", 2}}); }
  c = read_ledger(dir_ / "3.jsonl");
  EXPECT_FALSE(c.torn_tail);
  EXPECT_TRUE(c.corrupt_lines.empty());
  ASSERT_EQ(c.entries.size(), 2u);
  EXPECT_EQ(c.entries[1].action["n"], 2);

  append_raw(dir_ / "3.jsonl", "{\"op\":\"a\"");
  std::vector<int> seen;
  auto r = undo_ledger(dir_, 3, {{"a", [&](const json& j) { seen.push_back(j["n"].get<int>()); }}});
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.torn_tail);
  EXPECT_TRUE(r.removed);
  EXPECT_EQ(seen, (std::vector<int>{2, 1}));
}

TEST_F(LedgerTest, ParseReportsCorruptMiddleLines) {
  auto c = parse_ledger("{\"op\":\"a\"}\nnot json\n{\"no_op\":1}\n\n{\"op\":\"b\"}\n");
  EXPECT_FALSE(c.torn_tail);
  ASSERT_EQ(c.entries.size(), 2u);
  EXPECT_EQ(c.entries[0].line, 1u);
  EXPECT_EQ(c.entries[1].line, 5u);
  EXPECT_EQ(c.corrupt_lines, (std::vector<std::size_t>{2, 3}));
}

TEST_F(LedgerTest, ACorruptLineKeepsTheLedger) {
  fs::create_directories(dir_);
  ASSERT_EQ(::chmod(dir_.c_str(), 0700), 0);
  append_raw(dir_ / "4.jsonl", "{\"op\":\"a\"}\ngarbage\n");
  int calls = 0;
  auto r = undo_ledger(dir_, 4, {{"a", [&](const json&) { ++calls; }}});
  EXPECT_EQ(calls, 1);
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_EQ(r.failures[0].line, 2u);
  EXPECT_TRUE(fs::exists(dir_ / "4.jsonl"));
}

TEST_F(LedgerTest, ListsOnlyLedgerFiles) {
  EXPECT_TRUE(list_ledgers(dir_).empty());  // no directory yet
  { Ledger::open(dir_, 12); }
  { Ledger::open(dir_, 3); }
  append_raw(dir_ / "007.jsonl", "");
  append_raw(dir_ / "x.jsonl", "");
  append_raw(dir_ / "5.json", "");
  append_raw(dir_ / "99999999999.jsonl", "");  // beyond uint32
  EXPECT_EQ(list_ledgers(dir_), (std::vector<std::uint32_t>{3, 12}));
}

TEST_F(LedgerTest, UndoWaitsForTheLockThenGivesUp) {
  auto l = Ledger::open(dir_, 8);  // a prolog still at work
  l.record({{"op", "a"}});
  try {
    undo_ledger(dir_, 8, {{"a", [](const json&) {}}}, std::chrono::milliseconds(50));
    FAIL() << "expected a timeout";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), slurmvm::ErrorKind::timeout);
  }
}
