// The JUnit report's run on the login node (batch_report.hpp).
#include "batch_report.hpp"

#include <unistd.h>

#include <cerrno>
#include <system_error>

#include <fmt/format.h>

#include "atomic_file.hpp"
#include "error.hpp"
#include "junit_report.hpp"
#include "log.hpp"
#include "utc_time.hpp"

namespace fs = std::filesystem;

namespace slurmvm::cli {
namespace {

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

}  // namespace

JunitRun::JunitRun(const fs::path& report, std::string suite_name)
    : report_(fs::absolute(report)), suite_(std::move(suite_name)), timestamp_(utc_now_iso8601()) {
  const fs::path dir = report_.parent_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw Error(fmt::format("--junit {}: the directory {} does not exist", report.string(), dir.string()),
                ErrorKind::usage);
  }
  if (fs::is_directory(report_, ec)) {
    throw Error(fmt::format("--junit {}: is a directory; give a file name", report.string()), ErrorKind::usage);
  }
  std::string tmpl = (dir / ("." + report_.filename().string() + ".XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    throw Error::from_errno(fmt::format("--junit: cannot create a results directory in {}", dir.string()), errno);
  }
  results_ = tmpl;
}

JunitRun::~JunitRun() {
  std::error_code ec;
  fs::remove_all(results_, ec);
}

void JunitRun::write(const std::vector<std::string>& names, int job_status) {
  std::error_code ec;
  if (!fs::exists(results_ / "started", ec)) {
    log_warning(
        "no result of the job reached {}: the scripts did not start, or the compute nodes do not see that "
        "directory (put the --junit report on a filesystem they share, e.g. your home)",
        results_.parent_path().string());
  }
  JunitSuite suite;
  suite.name = suite_;
  suite.timestamp = timestamp_;
  suite.hostname = host_name();
  for (const std::string& name : names) suite.cases.push_back(read_junit_case(results_, name, suite_, job_status));
  write_file_atomic(report_, junit_xml(suite), 0644, {}, Durability::flushed);
  int failed = 0;
  for (const JunitCase& c : suite.cases) failed += c.outcome == JunitCase::Outcome::passed ? 0 : 1;
  log_info("JUnit report {}: {} test case(s), {} not passed", report_.string(), suite.cases.size(), failed);
  fs::remove_all(results_, ec);
}

}  // namespace slurmvm::cli
