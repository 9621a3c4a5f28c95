// The JUnit report of `vm batch --junit` (src/cli/junit_report.hpp): XML that any output of a
// guest leaves well-formed, cases read from the files the batch script writes, and the whole
// document valid against tests/data/junit/junit.xsd (xmllint, as the system test checks a real
// job's report).
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include <fstream>

#include "junit_report.hpp"
#include "subprocess.hpp"
#include "temp_dir.hpp"

using namespace slurmvm;
using namespace slurmvm::cli;
using testing::HasSubstr;
using testing::Not;

namespace {

void put(const std::filesystem::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

// xmllint's verdict on `xml` against the schema; "" when valid.
std::string schema_errors(const std::string& xml) {
  test::TempDir dir("svm-junit");
  put(dir.path() / "report.xml", xml);
  Command c;
  c.argv = {"/usr/bin/xmllint", "--noout", "--schema", SLURM_VM_TEST_DATA "/junit/junit.xsd",
            (dir.path() / "report.xml").string()};
  const RunResult r = run(c);
  return r.ok() ? "" : r.err + r.out;
}

}  // namespace

TEST(JunitXml, EscapesMarkupAndReplacesWhatXmlForbids) {
  EXPECT_EQ(xml_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
  EXPECT_EQ(xml_escape("tab\tnl\ncr\r"), "tab\tnl\ncr\r");
  // C0 controls (an ANSI colour escape, a NUL) and bytes that are not UTF-8.
  EXPECT_EQ(xml_escape(std::string("\x1b[31mred\x00!", 10)), "\xEF\xBF\xBD[31mred\xEF\xBF\xBD!");
  EXPECT_EQ(xml_escape("\xff\xfe"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(xml_escape("\xc3\xa9t\xc3\xa9"), "\xc3\xa9t\xc3\xa9");       // été stays
  EXPECT_EQ(xml_escape("\xc0\xaf"), "\xEF\xBF\xBD\xEF\xBF\xBD");        // overlong '/'
  EXPECT_EQ(xml_escape("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
  EXPECT_EQ(xml_escape("\xef\xbf\xbe"), "\xEF\xBF\xBD");                // U+FFFE
  EXPECT_EQ(xml_escape("\xf0\x9f\x90\xa7"), "\xf0\x9f\x90\xa7");        // U+1F427
  EXPECT_EQ(xml_escape("\xe2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD");        // cut short
}

TEST(JunitXml, CountsAndElementsFollowTheOutcomes) {
  JunitSuite suite{.name = "vm batch tiny:2", .timestamp = "2026-12-04T10:00:00Z", .hostname = "login", .cases = {}};
  suite.cases.push_back({.name = "host-script", .classname = suite.name, .seconds = 1.5,
                         .outcome = JunitCase::Outcome::passed, .message = "", .output = "ok\n"});
  suite.cases.push_back({.name = "vm-script", .classname = suite.name, .seconds = 2.25,
                         .outcome = JunitCase::Outcome::failed, .message = "vm-script exited with status 3",
                         .output = "<boom> \x1b[0m & \xff\n"});
  const std::string xml = junit_xml(suite);
  EXPECT_THAT(xml, HasSubstr("<testsuites name=\"vm batch tiny:2\" tests=\"2\" failures=\"1\" errors=\"0\" time=\"3.750\">"));
  EXPECT_THAT(xml, HasSubstr("<testcase name=\"vm-script\" classname=\"vm batch tiny:2\" time=\"2.250\">"));
  EXPECT_THAT(xml, HasSubstr("<failure message=\"vm-script exited with status 3\" type=\"failure\">"));
  EXPECT_THAT(xml, HasSubstr("<system-out>&lt;boom&gt; \xEF\xBF\xBD[0m &amp; \xEF\xBF\xBD\n</system-out>"));
  EXPECT_EQ(schema_errors(xml), "");

  suite.cases[1].outcome = JunitCase::Outcome::error;
  suite.cases[1].message = "vm-script did not finish";
  const std::string with_error = junit_xml(suite);
  EXPECT_THAT(with_error, HasSubstr("failures=\"0\" errors=\"1\""));
  EXPECT_THAT(with_error, HasSubstr("<error message=\"vm-script did not finish\" type=\"error\">"));
  EXPECT_EQ(schema_errors(with_error), "");
}

TEST(JunitXml, TheSchemaCheckCanFail) {
  // A report that breaks the schema (no time, two outcomes) is refused: the check checks.
  EXPECT_THAT(schema_errors("<?xml version=\"1.0\"?>\n<testsuites name=\"x\" tests=\"1\" failures=\"0\" errors=\"0\" "
                          "time=\"1\"><testsuite name=\"x\" tests=\"1\" failures=\"0\" errors=\"0\" skipped=\"0\" "
                          "time=\"1\" timestamp=\"2026-12-04T10:00:00Z\" hostname=\"h\"><testcase name=\"a\" "
                          "classname=\"x\"><failure message=\"m\" type=\"t\"/><error message=\"m\" type=\"t\"/>"
                          "</testcase></testsuite></testsuites>\n"),
              HasSubstr("fails to validate"));
}

TEST(JunitCases, ReadFromTheFilesTheBatchScriptWrites) {
  test::TempDir dir("svm-junit");
  put(dir.path() / "vm-script.out", "hello\n");
  put(dir.path() / "vm-script.status", "0\n");
  put(dir.path() / "vm-script.time", "1733300000.250000000 1733300003.750000000\n");
  JunitCase c = read_junit_case(dir.path(), "vm-script", "suite", 0);
  EXPECT_EQ(c.outcome, JunitCase::Outcome::passed);
  EXPECT_DOUBLE_EQ(c.seconds, 3.5);
  EXPECT_EQ(c.output, "hello\n");

  put(dir.path() / "vm-script.status", "3\n");
  c = read_junit_case(dir.path(), "vm-script", "suite", 3);
  EXPECT_EQ(c.outcome, JunitCase::Outcome::failed);
  EXPECT_EQ(c.message, "vm-script exited with status 3");

  // No status: the script never finished (the cluster did not boot, scancel, time limit).
  c = read_junit_case(dir.path(), "host-script", "suite", 7);
  EXPECT_EQ(c.outcome, JunitCase::Outcome::error);
  EXPECT_THAT(c.message, HasSubstr("host-script did not finish: the job ended first with status 7"));
  EXPECT_EQ(c.output, "");
  EXPECT_EQ(c.seconds, 0);

  put(dir.path() / "vm-script.status", "garbage\n");
  EXPECT_EQ(read_junit_case(dir.path(), "vm-script", "suite", 1).outcome, JunitCase::Outcome::error);
}

TEST(JunitCases, KeepsTheTailOfALongOutput) {
  test::TempDir dir("svm-junit");
  put(dir.path() / "vm-script.out", std::string(1000, 'a') + "THE END\n");
  put(dir.path() / "vm-script.status", "0\n");
  const JunitCase c = read_junit_case(dir.path(), "vm-script", "suite", 0, 100);
  EXPECT_THAT(c.output, HasSubstr("[vm batch: the first 908 bytes of the output are left out]\n"));
  EXPECT_THAT(c.output, HasSubstr("THE END\n"));
  EXPECT_THAT(c.output, Not(HasSubstr(std::string(101, 'a'))));
}
