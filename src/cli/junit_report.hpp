// The JUnit XML report of `vm batch --wait --junit FILE`: one test case per script the job ran
// (the host script on the job's first node, the VM script in vm0), with its output, status and
// time, in the format Jenkins' junit step and GitLab's artifacts:reports:junit read (a
// <testsuites> root, one <testsuite>, <testcase> with <failure> or <error> and <system-out>;
// tests/data/junit/junit.xsd is the subset written here, checked by xmllint in the tests).
//
// The job's batch script (batch_script.hpp) leaves, per script, in a results directory the
// submitting `vm batch` created: NAME.out (stdout and stderr), NAME.status (the exit status)
// and NAME.time (start and end, seconds since the epoch). A script whose status is missing did
// not finish: the cluster did not boot, the job was cancelled or hit its time limit.
// Pure but for reading those files.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace slurmvm::cli {

struct JunitCase {
  enum class Outcome { passed, failed, error };
  std::string name;       // "host-script", "vm-script"
  std::string classname;  // the suite's name, as Jenkins groups cases by it
  double seconds = 0;
  Outcome outcome = Outcome::passed;
  std::string message;    // one line, for <failure message=...> or <error message=...>
  std::string output;     // <system-out>
};

struct JunitSuite {
  std::string name;       // "vm batch <definition>" (the job name when given)
  std::string timestamp;  // ISO 8601, when the job was submitted
  std::string hostname;   // the login node vm batch ran on
  std::vector<JunitCase> cases;
};

// Text and attribute values as XML 1.0 allows them: & < > " ' escaped; characters XML 1.0
// forbids (most C0 controls, U+FFFE, U+FFFF) and bytes that are not UTF-8 become U+FFFD.
std::string xml_escape(std::string_view text);

std::string junit_xml(const JunitSuite& suite);

// The outcome of the script `name` from its files in `results` (see above). `job_status` is
// sbatch --wait's exit status, named in the message of a script that did not finish.
// `max_output` bytes of output at most: the last ones, after a line saying how much was cut.
JunitCase read_junit_case(const std::filesystem::path& results, const std::string& name,
                          const std::string& classname, int job_status, std::size_t max_output = 4 << 20);

}  // namespace slurmvm::cli
