// Cluster definitions: syntax, numbering and the exact errors a user sees.
#include <gtest/gtest.h>

#include "cluster_def.hpp"
#include "error.hpp"

using slurmvm::ClusterDef;
using slurmvm::Error;
using slurmvm::ErrorKind;

namespace {

std::string error_of(std::string_view text) {
  try {
    ClusterDef::parse(text);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(ClusterDef, CountDefaultsToOne) {
  auto def = ClusterDef::parse("master,compute:3");
  ASSERT_EQ(def.groups().size(), 2u);
  EXPECT_EQ(def.groups()[0].template_name, "master");
  EXPECT_EQ(def.groups()[0].count, 1u);
  EXPECT_EQ(def.groups()[1].count, 3u);
  EXPECT_EQ(def.vm_count(), 4u);
  EXPECT_EQ(def.to_string(), "master:1,compute:3");
}

TEST(ClusterDef, VmsAreNumberedInDefinitionOrder) {
  auto def = ClusterDef::parse("tpl1:6,tpl2:2");
  for (std::uint32_t r = 0; r < 6; ++r) EXPECT_EQ(def.template_of(r), "tpl1");
  EXPECT_EQ(def.template_of(6), "tpl2");
  EXPECT_EQ(def.template_of(7), "tpl2");
  EXPECT_THROW(def.template_of(8), Error);
}

TEST(ClusterDef, SameTemplateTwiceKeepsOrder) {
  auto def = ClusterDef::parse("a:1,b:1,a:2");
  EXPECT_EQ(def.template_of(0), "a");
  EXPECT_EQ(def.template_of(1), "b");
  EXPECT_EQ(def.template_of(3), "a");
  EXPECT_EQ(def.vm_count(), 4u);
}

TEST(ClusterDef, LargestAllowedCluster) {
  EXPECT_EQ(ClusterDef::parse("compute:4092").vm_count(), 4092u);
  EXPECT_EQ(ClusterDef::parse("a:4000,b:92").vm_count(), 4092u);
}

TEST(ClusterDef, GoldenErrors) {
  const std::string hint =
      " (expected TEMPLATE[:COUNT[:c=CPUS]][,...], e.g. master:1,compute:4 or master:1:c=8,compute:4:c=2)";
  EXPECT_EQ(error_of(""), "invalid cluster definition \"\" at column 1: the definition is empty" + hint);
  EXPECT_EQ(error_of("tiny:0"), "invalid cluster definition \"tiny:0\" at column 6: count must be at least 1" + hint);
  EXPECT_EQ(error_of("tiny:x"),
            "invalid cluster definition \"tiny:x\" at column 6: count \"x\" is not a positive integer" + hint);
  EXPECT_EQ(error_of("tiny:-1"),
            "invalid cluster definition \"tiny:-1\" at column 6: count \"-1\" is not a positive integer" + hint);
  EXPECT_EQ(error_of("tiny:"), "invalid cluster definition \"tiny:\" at column 6: missing count after ':'" + hint);
  EXPECT_EQ(error_of("a:1,,b"), "invalid cluster definition \"a:1,,b\" at column 5: empty item" + hint);
  EXPECT_EQ(error_of("a:1,"), "invalid cluster definition \"a:1,\" at column 5: empty item" + hint);
  EXPECT_EQ(error_of(":3"), "invalid cluster definition \":3\" at column 1: missing template name" + hint);
  EXPECT_EQ(error_of("tiny:1000000"),
            "invalid cluster definition \"tiny:1000000\" at column 6: count 1000000 is too large (at most 4092 VMs)" + hint);
  EXPECT_EQ(error_of("tiny:99999999999999999999999"),
            "invalid cluster definition \"tiny:99999999999999999999999\" at column 6: count 99999999999999999999999 is too large (at most 4092 VMs)" + hint);
  EXPECT_EQ(error_of("a:4000,b:93"),
            "invalid cluster definition \"a:4000,b:93\" at column 8: the cluster would have 4093 VMs, more than the limit of 4092" + hint);
  EXPECT_EQ(error_of("9lives:2"),
            "invalid cluster definition \"9lives:2\" at column 1: \"9lives\" is not a valid template name (a letter, then letters, digits, '_', '-', '.')" + hint);
  EXPECT_EQ(error_of("a b:2"),
            "invalid cluster definition \"a b:2\" at column 1: \"a b\" is not a valid template name (a letter, then letters, digits, '_', '-', '.')" + hint);
  EXPECT_EQ(error_of("tiny:2:3"), "invalid cluster definition \"tiny:2:3\" at column 8: \"3\" is not c=CPUS" + hint);
  EXPECT_EQ(error_of("tiny:2:c=0"),
            "invalid cluster definition \"tiny:2:c=0\" at column 10: CPUs per VM \"0\" is not a number from 1 to 1024" +
                hint);
  EXPECT_EQ(error_of("a:1,tiny:2:c=1025"),
            "invalid cluster definition \"a:1,tiny:2:c=1025\" at column 14: CPUs per VM \"1025\" is not a number from 1 "
            "to 1024" + hint);
  EXPECT_EQ(error_of("tiny:2:c=2:c=3"),
            "invalid cluster definition \"tiny:2:c=2:c=3\" at column 10: CPUs per VM \"2:c=3\" is not a number from 1 "
            "to 1024" + hint);
  EXPECT_EQ(error_of("tiny:2:c="),
            "invalid cluster definition \"tiny:2:c=\" at column 10: CPUs per VM \"\" is not a number from 1 to 1024" + hint);
}

TEST(ClusterDef, GroupsOfDifferentSizes) {
  const auto def = ClusterDef::parse("master:1:c=8,compute:16:c=2,login");
  EXPECT_EQ(def.to_string(), "master:1:c=8,compute:16:c=2,login:1");
  EXPECT_EQ(ClusterDef::parse(def.to_string()).to_string(), def.to_string());
  EXPECT_EQ(def.vm_count(), 18u);
  EXPECT_EQ(def.group_of(0), 0u);
  EXPECT_EQ(def.group_of(1), 1u);
  EXPECT_EQ(def.group_of(16), 1u);
  EXPECT_EQ(def.group_of(17), 2u);
  EXPECT_THROW(def.group_of(18), Error);
  EXPECT_EQ(def.cpus_of_group(0, 1), 8u);
  EXPECT_EQ(def.cpus_of_group(2, 4), 4u);  // no c=: the job's -c
  EXPECT_TRUE(def.sized(1));
  // One size, however written, is an ordinary job.
  EXPECT_FALSE(ClusterDef::parse("a:1:c=2,b:3:c=2").sized(1));
  EXPECT_FALSE(ClusterDef::parse("a:1:c=2,b:3").sized(2));
  EXPECT_TRUE(ClusterDef::parse("a:1:c=2,b:3").sized(1));
  EXPECT_FALSE(ClusterDef::parse("a:4").sized(3));
}

TEST(ClusterDef, UnknownTemplateIsNotFound) {
  auto def = ClusterDef::parse("tiny:2,nosuch:2");
  try {
    def.check_templates([](std::string_view n) { return n == "tiny"; });
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_STREQ(e.what(),
                 "unknown template \"nosuch\" in cluster definition \"tiny:2,nosuch:2\" "
                 "(`vm template list` shows the templates you can use)");
  }
  EXPECT_NO_THROW(def.check_templates([](std::string_view) { return true; }));
}

TEST(ClusterDef, TemplateNames) {
  EXPECT_TRUE(slurmvm::is_valid_template_name("centos7-cloud"));
  EXPECT_TRUE(slurmvm::is_valid_template_name("a.b_c"));
  EXPECT_FALSE(slurmvm::is_valid_template_name("_reserved"));
  EXPECT_FALSE(slurmvm::is_valid_template_name(""));
  EXPECT_FALSE(slurmvm::is_valid_template_name("a/b"));
}
