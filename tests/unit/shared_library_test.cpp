// Libraries opened on first use (src/common/shared_library.hpp) and the polls' backoff
// (src/common/deadline.hpp).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "deadline.hpp"
#include "error.hpp"
#include "shared_library.hpp"

using namespace std::chrono_literals;
using slurmvm::Error;
using slurmvm::ErrorKind;
using slurmvm::SharedLibrary;

TEST(SharedLibrary, AFunctionOfALoadedLibraryIsTheOneTheProgramSees) {
  const auto libc = SharedLibrary::open("libc.so.6", "testing", "libc6");
  const auto pid = libc.function<decltype(::getpid)>("getpid");
  EXPECT_EQ(pid(), ::getpid());
  EXPECT_EQ(libc.soname(), "libc.so.6");
}

TEST(SharedLibrary, AMissingLibrarySaysWhatNeedsItAndWhatToInstall) {
  try {
    (void)SharedLibrary::open("libslurmvm-no-such.so.7", "TLS to etcd", "libssl3 (Debian)");
    FAIL() << "opened a library that does not exist";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::system);
    const std::string what = e.what();
    EXPECT_NE(what.find("TLS to etcd needs libslurmvm-no-such.so.7"), std::string::npos) << what;
    EXPECT_NE(what.find("install libssl3 (Debian)"), std::string::npos) << what;
  }
}

TEST(SharedLibrary, AMissingFunctionIsNamed) {
  const auto libc = SharedLibrary::open("libc.so.6", "testing", "libc6");
  try {
    (void)libc.function<void()>("slurmvm_no_such_function");
    FAIL() << "found a function that does not exist";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("libc.so.6 has no function slurmvm_no_such_function"), std::string::npos)
        << e.what();
  }
}

TEST(PollBackoff, StartsShortGrowsAndNeverSleepsPastTheDeadline) {
  const auto start = slurmvm::SteadyClock::now();
  slurmvm::PollBackoff backoff(start + 20ms, 250us, 4ms);
  int pauses = 0;
  while (backoff.pause()) ++pauses;
  const auto took = slurmvm::SteadyClock::now() - start;
  // 0.25 + 0.5 + 1 + 2 + 4 + 4 + ... ms: about 8 pauses in 20 ms, not 80 of 250 µs nor 5 of 4 ms.
  EXPECT_GE(pauses, 6);
  EXPECT_LE(pauses, 10);
  EXPECT_GE(took, 20ms);
  EXPECT_LT(took, 60ms);  // the last pause is cut at the deadline (generous for a loaded machine)
  EXPECT_FALSE(backoff.pause());
}
