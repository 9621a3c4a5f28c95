// `vm batch --wait --junit FILE` on the login node: the results directory the job's scripts
// write into (batch_script.hpp), made next to FILE so that it is on the filesystem the user
// chose for the report (one the compute nodes share), and the report written from it once
// sbatch --wait has returned (junit_report.hpp). The directory is removed in every case.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace slurmvm::cli {

class JunitRun {
 public:
  // Creates FILE's results directory (.FILE.XXXXXX, mode 0700). Error(usage) when FILE's
  // directory does not exist or FILE is a directory.
  JunitRun(const std::filesystem::path& report, std::string suite_name);
  JunitRun(const JunitRun&) = delete;
  JunitRun& operator=(const JunitRun&) = delete;
  ~JunitRun();

  const std::filesystem::path& results_dir() const { return results_; }

  // Writes the report for the scripts `names` (host-script, vm-script) and removes the results
  // directory. `job_status`: sbatch --wait's.
  void write(const std::vector<std::string>& names, int job_status);

 private:
  std::filesystem::path report_;
  std::filesystem::path results_;
  std::string suite_;
  std::string timestamp_;
};

}  // namespace slurmvm::cli
