// The Slurm release the plugin is built for against the one it is loaded into
// (src/spank/slurm_series.hpp): one libslurm API per release series, whatever the micro release.
#include "slurm_series.hpp"

#include <gtest/gtest.h>

using slurmvm::spank::series_mismatch;
using slurmvm::spank::slurm_series;

TEST(SlurmSeries, FormatsMajorAndTwoDigitMinor) {
  EXPECT_EQ(slurm_series(0x160508), "22.05");
  EXPECT_EQ(slurm_series(0x17020a), "23.02");
  EXPECT_EQ(slurm_series(0x180b00), "24.11");
}

TEST(SlurmSeries, SameApiIsAcceptedWhateverTheLowerBytes) {
  // slurm_api_version() of Slurm 22.05: 38.0.0.
  EXPECT_FALSE(series_mismatch(0x160508, 38, 0x260000));
  EXPECT_FALSE(series_mismatch(0x160508, 38, 0x260102));
}

TEST(SlurmSeries, AnotherApiNamesBothAndTheFix) {
  const auto message = series_mismatch(0x160508, 38, 0x270000);
  ASSERT_TRUE(message);
  EXPECT_NE(message->find("built for Slurm 22.05 (libslurm API 38) but is loaded by a Slurm with libslurm API 39"),
            std::string::npos)
      << *message;
  EXPECT_NE(message->find("slurmd -V"), std::string::npos) << *message;
  EXPECT_NE(message->find("docs/install.md"), std::string::npos) << *message;
  EXPECT_TRUE(series_mismatch(0x160508, 38, 0x250000));
}
