// NSS answered by the local files while nft parses uids (nss_local_files.hpp): nsswitch.conf's
// text, and, in a child process, that a passwd lookup inside the scope loads no NSS module
// beyond the files one while the same lookup outside it follows nsswitch.conf.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "file_read.hpp"
#include "netsetup/nss_local_files.hpp"

using slurmvm::netsetup::nsswitch_services;

TEST(NsswitchServices, TheDatabasesLine) {
  const char* conf =
      "# /etc/nsswitch.conf\n"
      "passwd:         files systemd   # users\n"
      "group:          files sss\n"
      "  shadow :files\n"
      "hosts: files dns\n";
  EXPECT_EQ(nsswitch_services(conf, "passwd"), "files systemd");
  EXPECT_EQ(nsswitch_services(conf, "group"), "files sss");
  EXPECT_EQ(nsswitch_services(conf, "shadow"), "files");
  EXPECT_EQ(nsswitch_services(conf, "protocols"), "files");  // absent: glibc's default
  EXPECT_EQ(nsswitch_services("passwd:\n", "passwd"), "files");
  EXPECT_EQ(nsswitch_services("#passwd: ldap\npasswd_x: ldap\n", "passwd"), "files");
  EXPECT_EQ(nsswitch_services("passwd: files [NOTFOUND=return] ldap", "passwd"), "files [NOTFOUND=return] ldap");
}

namespace {
// In a child: looks up a user nobody has, with or without the scope, and exits 1 when an NSS
// module other than files (built into libc) got loaded.
int lookup_in_child(bool scoped) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    {
      std::optional<slurmvm::netsetup::NssLocalFilesOnly> scope;
      if (scoped) scope.emplace("passwd");
      (void)::getpwnam("svm-no-such-user-here");
    }
    const auto maps = slurmvm::read_file_if_exists("/proc/self/maps").value_or("");
    ::_exit(maps.find("libnss_") == std::string::npos ? 0 : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
}  // namespace

TEST(NssLocalFilesOnly, OnlyTheFilesAnswerInsideTheScope) {
  EXPECT_EQ(lookup_in_child(true), 0) << "a passwd lookup inside the scope loaded an NSS module";
  const auto conf = slurmvm::read_file_if_exists("/etc/nsswitch.conf").value_or("");
  const auto services = nsswitch_services(conf, "passwd");
  if (services.find_first_not_of("files ") == std::string::npos) {
    GTEST_SKIP() << "nsswitch.conf lists only files for passwd here: nothing to tell apart";
  }
  // Outside the scope the configured services are asked (the control: the test can fail).
  EXPECT_EQ(lookup_in_child(false), 1) << "passwd: " << services;
}
