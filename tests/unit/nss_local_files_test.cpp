// NSS answered by the local files while nft parses uids (nss_local_files.hpp): nsswitch.conf's
// text read as glibc reads it, and, in a child process, that a passwd lookup inside the scope
// loads no NSS module while the same lookup after it (the configuration restored) follows
// nsswitch.conf again.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <set>
#include <sstream>
#include <string>

#include "file_read.hpp"
#include "netsetup/nss_local_files.hpp"

using slurmvm::netsetup::nsswitch_services;

TEST(NsswitchServices, TheDatabasesLastLine) {
  const char* conf =
      "# /etc/nsswitch.conf\n"
      "passwd:         files\n"
      "passwd:         files systemd\n"  // glibc: the last line for a database counts
      "group:          files sss\n"
      "  shadow :files\n"
      "hosts files dns\n"  // the colon may be left out
      "#netgroup: nis\n";
  EXPECT_EQ(nsswitch_services(conf, "passwd"), "files systemd");
  EXPECT_EQ(nsswitch_services(conf, "group"), "files sss");
  EXPECT_EQ(nsswitch_services(conf, "shadow"), "files");
  EXPECT_EQ(nsswitch_services(conf, "hosts"), "files dns");
  EXPECT_EQ(nsswitch_services(conf, "netgroup"), "files");   // commented out: glibc's default
  EXPECT_EQ(nsswitch_services(conf, "protocols"), "files");  // absent: glibc's default
  EXPECT_EQ(nsswitch_services("passwd:\n", "passwd"), "files");
  EXPECT_EQ(nsswitch_services("passwd_x: ldap\npass: ldap\n", "passwd"), "files");
  EXPECT_EQ(nsswitch_services("passwd: files [NOTFOUND=return] ldap", "passwd"), "files [NOTFOUND=return] ldap");
}

namespace {
// How many NSS modules the process has mapped.
std::size_t nss_modules_mapped() {
  const auto maps = slurmvm::read_file_if_exists("/proc/self/maps").value_or("");
  std::istringstream lines(maps);
  std::set<std::string> modules;
  for (std::string line; std::getline(lines, line);) {
    const auto at = line.find("/libnss_");
    if (at != std::string::npos) modules.insert(line.substr(at));
  }
  return modules.size();
}

// In a child: a lookup of a user nobody has inside the scope, then one after it. Exit status:
// bit 0 set when the first mapped a new NSS module, bit 1 when the second did.
int lookups_in_child() {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int status = 0;
    {
      const slurmvm::netsetup::NssLocalFilesOnly scope("passwd");
      const auto before = nss_modules_mapped();
      (void)::getpwnam("svm-no-such-user-1");
      if (nss_modules_mapped() != before) status |= 1;
    }
    const auto before = nss_modules_mapped();
    (void)::getpwnam("svm-no-such-user-2");
    if (nss_modules_mapped() != before) status |= 2;
    ::_exit(status);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Whether the services list names a module beyond `files` (built into libc), `[...]` actions aside.
bool names_a_module(const std::string& services) {
  std::istringstream words(services);
  for (std::string w; words >> w;) {
    if (w != "files" && w.front() != '[') return true;
  }
  return false;
}
}  // namespace

TEST(NssLocalFilesOnly, OnlyTheFilesAnswerInsideTheScopeAndTheConfigurationAfterIt) {
  const auto conf = slurmvm::read_file_if_exists("/etc/nsswitch.conf").value_or("");
  const auto services = nsswitch_services(conf, "passwd");
  const int outcome = lookups_in_child();
  ASSERT_GE(outcome, 0) << "the child did not exit";
  EXPECT_EQ(outcome & 1, 0) << "a passwd lookup inside the scope loaded an NSS module";
  if (!names_a_module(services)) {
    GTEST_SKIP() << "nsswitch.conf lists only files for passwd here: nothing to tell apart";
  }
  // The control, which makes the first check able to fail: the configured module answers again.
  EXPECT_EQ(outcome & 2, 2) << "after the scope, passwd: " << services << " loaded no module";
}
