// The QMP client against a fake QEMU in a thread: greeting and capabilities, replies matched by
// id with events queued around them, error replies, partial and pretty-printed messages,
// deadlines and a closed connection. (Connecting: qmp_connect_test.cpp.)
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "error.hpp"
#include "fake_qemu.hpp"
#include "qmp.hpp"
#include "unique_fd.hpp"

using nlohmann::json;
using slurmvm::Error;
using slurmvm::ErrorKind;
using slurmvm::QmpClient;
using slurmvm::UniqueFd;
using slurmvm::test::FakeQemu;
using slurmvm::test::Harness;
using slurmvm::test::kGreeting;
using namespace std::chrono_literals;

TEST(Qmp, NegotiatesCapabilitiesAndReturnsTheReply) {
  Harness h([](FakeQemu& q) {
    q.handshake();
    const json request = q.expect("query-status", {{"status", "paused"}, {"running", false}});
    EXPECT_TRUE(request.contains("id"));
    EXPECT_FALSE(request.contains("arguments"));  // none given: none sent
  });
  QmpClient qmp = QmpClient::attach(h.take_client(), 2s);
  EXPECT_EQ(qmp.greeting()["QMP"]["version"]["qemu"]["major"], 7);
  const json status = qmp.execute("query-status");
  EXPECT_EQ(status["status"], "paused");
}

TEST(Qmp, SendsArgumentsAndAUniqueIdPerCommand) {
  Harness h([](FakeQemu& q) {
    q.handshake();
    const json first = q.expect("human-monitor-command", "ok\r\n");
    EXPECT_EQ(first["arguments"]["command-line"], "info status");
    const json second = q.expect("cont");
    EXPECT_NE(first["id"], second["id"]);
  });
  QmpClient qmp = QmpClient::attach(h.take_client(), 2s);
  EXPECT_EQ(qmp.execute("human-monitor-command", {{"command-line", "info status"}}), "ok\r\n");
  qmp.execute("cont");
}

TEST(Qmp, QueuesEventsThatArriveBeforeTheReply) {
  Harness h([](FakeQemu& q) {
    q.handshake();
    const json request = q.read_request();
    q.send({{"event", "RESUME"}, {"timestamp", {{"seconds", 1}, {"microseconds", 2}}}});
    // The reply in pieces, with an event in between two messages, as a slow socket delivers.
    const std::string reply = json{{"return", json::object()}, {"id", request["id"]}}.dump() + "\r\n";
    q.write_raw(R"({"event": "STOP", "timestamp": {"seconds": 3, "microseconds": 4}})" "\r\n");
    q.write_raw(reply.substr(0, 5));
    std::this_thread::sleep_for(20ms);
    q.write_raw(reply.substr(5));
    q.send({{"event", "SHUTDOWN"}, {"data", {{"guest", false}}}});
  });
  QmpClient qmp = QmpClient::attach(h.take_client(), 2s);
  EXPECT_EQ(qmp.execute("cont"), json::object());
  ASSERT_EQ(qmp.pending_events().size(), 2u);
  EXPECT_EQ(qmp.next_event(0ms).value()["event"], "RESUME");
  EXPECT_EQ(qmp.next_event(0ms).value()["event"], "STOP");
  // The one after the reply is read when asked for.
  auto shutdown = qmp.next_event(2s);
  ASSERT_TRUE(shutdown);
  EXPECT_EQ((*shutdown)["data"]["guest"], false);
  EXPECT_FALSE(qmp.next_event(50ms));
}

TEST(Qmp, ReportsQmpErrorsWithClassAndDescription) {
  Harness h([](FakeQemu& q) {
    q.handshake();
    const json request = q.read_request();
    q.send({{"error", {{"class", "CommandNotFound"}, {"desc", "The command frobnicate has not been found"}}},
            {"id", request["id"]}});
  });
  QmpClient qmp = QmpClient::attach(h.take_client(), 2s);
  try {
    qmp.execute("frobnicate");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::system);
    EXPECT_STREQ(e.what(), "QMP command frobnicate failed: CommandNotFound: The command frobnicate has not been found");
  }
}

TEST(Qmp, AnErrorWithoutIdIsTheCurrentCommands) {
  // QEMU answers a request it could not parse without an id.
  Harness h([](FakeQemu& q) {
    q.handshake();
    q.read_request();
    q.send({{"error", {{"class", "GenericError"}, {"desc", "JSON parse error"}}}});
  });
  QmpClient qmp = QmpClient::attach(h.take_client(), 2s);
  EXPECT_THROW(qmp.execute("query-status"), Error);
}

TEST(Qmp, DropsLateRepliesToEarlierCommands) {
  Harness h([](FakeQemu& q) {
    q.handshake();
    const json request = q.read_request();
    q.send({{"return", "stale"}, {"id", "slurm-vm-0"}});
    q.send({{"return", "fresh"}, {"id", request["id"]}});
  });
  QmpClient qmp = QmpClient::attach(h.take_client(), 2s);
  EXPECT_EQ(qmp.execute("query-name"), "fresh");
}

TEST(Qmp, TimesOutWhenQemuDoesNotAnswer) {
  Harness h([](FakeQemu& q) {
    q.handshake();
    q.read_request();  // and never answers
  });
  QmpClient qmp = QmpClient::attach(h.take_client(), 2s);
  const auto start = std::chrono::steady_clock::now();
  try {
    qmp.execute("query-status", nullptr, 150ms);
    FAIL() << "no timeout";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::timeout);
    EXPECT_NE(std::string(e.what()).find("query-status"), std::string::npos) << e.what();
  }
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 140ms);
  EXPECT_LT(took, 2s);
}

TEST(Qmp, TimesOutWithoutGreeting) {
  Harness h([](FakeQemu&) {});
  try {
    QmpClient::attach(h.take_client(), 100ms);
    FAIL() << "no timeout";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::timeout);
  }
}

TEST(Qmp, RefusesAPeerThatIsNotQmp) {
  Harness h([](FakeQemu& q) { q.write_raw("{\"hello\": 1}\n"); });
  EXPECT_THROW(QmpClient::attach(h.take_client(), 1s), Error);
  Harness h2([](FakeQemu& q) { q.write_raw("SSH-2.0-OpenSSH\r\n"); });
  EXPECT_THROW(QmpClient::attach(h2.take_client(), 1s), Error);
}

TEST(Qmp, ReportsAConnectionClosedByQemu) {
  Harness h([](FakeQemu& q) {
    q.handshake();
    q.read_request();
    q.hang_up();
  });
  QmpClient qmp = QmpClient::attach(h.take_client(), 2s);
  try {
    qmp.execute("quit", nullptr, 2s);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::system);
    EXPECT_NE(std::string(e.what()).find("closed"), std::string::npos) << e.what();
  }
}

TEST(Qmp, ReadsPrettyPrintedMessages) {
  Harness h([](FakeQemu& q) {
    q.write_raw(json::parse(kGreeting).dump(4) + "\n");
    const json request = q.read_request();
    q.write_raw(json{{"return", json::object()}, {"id", request["id"]}}.dump(2) + "\n");
  });
  EXPECT_NO_THROW(QmpClient::attach(h.take_client(), 2s));
}
