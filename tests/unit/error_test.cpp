// The error type: context chain, errno rendering, exit codes.
#include <gtest/gtest.h>

#include <cerrno>

#include "error.hpp"

using slurmvm::Error;
using slurmvm::ErrorKind;

TEST(Error, RendersContextOutermostFirst) {
  Error e("bad key", ErrorKind::config);
  e.add_context("templates.yaml");
  e.add_context("loading configuration");
  EXPECT_STREQ(e.what(), "loading configuration: templates.yaml: bad key");
  EXPECT_EQ(e.message(), "bad key");
  ASSERT_EQ(e.context().size(), 2u);
  EXPECT_EQ(e.context()[0], "loading configuration");
}

TEST(Error, FromErrnoAppendsStrerror) {
  auto e = Error::from_errno("open /nonexistent", ENOENT);
  EXPECT_EQ(e.kind(), ErrorKind::system);
  EXPECT_EQ(e.errnum(), ENOENT);
  EXPECT_STREQ(e.what(), "open /nonexistent: No such file or directory");
}

TEST(Error, WithContextRethrows) {
  try {
    slurmvm::with_context("step one", [] { throw Error("failed", ErrorKind::timeout); });
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "step one: failed");
    EXPECT_EQ(e.kind(), ErrorKind::timeout);
  }
}

TEST(Error, ExitCodesAreStable) {
  // Documented in docs/exit-codes.md and vm(1): changing them breaks users' scripts.
  EXPECT_EQ(slurmvm::exit_code_for(ErrorKind::internal), 1);
  EXPECT_EQ(slurmvm::exit_code_for(ErrorKind::usage), 2);
  EXPECT_EQ(slurmvm::exit_code_for(ErrorKind::config), 3);
  EXPECT_EQ(slurmvm::exit_code_for(ErrorKind::not_found), 4);
  EXPECT_EQ(slurmvm::exit_code_for(ErrorKind::system), 5);
  EXPECT_EQ(slurmvm::exit_code_for(ErrorKind::timeout), 6);
  EXPECT_EQ(slurmvm::exit_code_for(ErrorKind::cluster_ended), 7);
}
