// The YAML layer under every configuration file: located errors, strict mappings, merge keys,
// YAML 1.1 scalars, and the YAML-to-JSON conversion of inline cloud-config.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <limits>

#include "config/yaml_json.hpp"
#include "config/yaml_reader.hpp"
#include "error.hpp"

using slurmvm::Error;
using slurmvm::ErrorKind;
using slurmvm::config::Mapping;
using slurmvm::config::parse_yaml;
using slurmvm::config::Value;
using testing::StrEq;
using testing::ThrowsMessage;

namespace {

Value yaml(std::string_view text) { return parse_yaml(text, "f.yaml"); }

// The value at a dotted path of plain keys.
Value at(const Value& root, std::string_view key) {
  Mapping m = root.as_map();
  return *m.get(key);
}

}  // namespace

TEST(ConfigYamlReader, ErrorsNameFileLineAndKeyPath) {
  const Value root = yaml("a:\n  b:\n    c: two\n");
  const Value c = at(at(root, "a"), "b").as_map().get("c").value();
  EXPECT_EQ(c.path(), "a.b.c");
  EXPECT_EQ(c.line(), 3);
  EXPECT_THAT(
      [&] { c.as_int(0, std::numeric_limits<std::int64_t>::max()); },
      ThrowsMessage<Error>(StrEq("f.yaml:3: a.b.c: expected a non-negative integer, got \"two\"")));
  try {
    c.as_bool();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
  }
}

TEST(ConfigYamlReader, EmptyValuesAreLocatedAtTheirKey) {
  // yaml-cpp puts an empty value at the next token, which is on the next line.
  const Value root = yaml("a:\nb: 1\n");
  EXPECT_EQ(at(root, "a").line(), 1);
  EXPECT_TRUE(at(root, "a").is_null());
  EXPECT_THAT(
      [&] { at(root, "a").as_nonempty_string(); },
      ThrowsMessage<Error>(StrEq("f.yaml:1: a: expected a non-empty string, got an empty value")));
}

TEST(ConfigYamlReader, KeysThatAreNotWordsAreQuotedInPaths) {
  const Value root = yaml("drives:\n  - \"/a/b.raw\": {mmp: maybe}\n");
  const Value item = at(root, "drives").as_list().at(0);
  const Mapping m = item.as_map();
  const Mapping::Entry& e = m.entries().at(0);
  EXPECT_EQ(e.value.path(), "drives[0].\"/a/b.raw\"");
  EXPECT_EQ(e.value.as_map().get("mmp")->path(), "drives[0].\"/a/b.raw\".mmp");
}

TEST(ConfigYamlReader, QuotingDoesNotChangeHowSettingsAreRead) {
  const Value root = yaml("a: \"1500\"\nb: 1500\nc: 'yes'\n");
  EXPECT_EQ(at(root, "a").as_int(0, 65535), 1500);
  EXPECT_EQ(at(root, "b").as_int(0, 65535), 1500);
  EXPECT_TRUE(at(root, "c").as_bool());
  EXPECT_TRUE(at(root, "a").is_quoted());
  EXPECT_FALSE(at(root, "b").is_quoted());
}

TEST(ConfigYamlReader, IntegerRangesAreSpelledOut) {
  const Value root = yaml("a: 70000\nb: -1\nc: 1.5\n");
  EXPECT_THAT([&] { at(root, "a").as_int(1, 65535); },
              ThrowsMessage<Error>(
                  StrEq("f.yaml:1: a: expected an integer between 1 and 65535, got \"70000\"")));
  EXPECT_THAT([&] { at(root, "b").as_int(1, std::numeric_limits<std::int64_t>::max()); },
              ThrowsMessage<Error>(StrEq("f.yaml:2: b: expected a positive integer, got \"-1\"")));
  EXPECT_THAT([&] { at(root, "c").as_int(0, 10); },
              ThrowsMessage<Error>(
                  StrEq("f.yaml:3: c: expected an integer between 0 and 10, got \"1.5\"")));
}

TEST(ConfigYamlReader, BooleansAreYaml11) {
  for (const char* t : {"true", "True", "TRUE", "yes", "Yes", "on", "ON"}) {
    EXPECT_EQ(slurmvm::config::parse_yaml_bool(t), true) << t;
  }
  for (const char* f : {"false", "False", "no", "NO", "off", "Off"}) {
    EXPECT_EQ(slurmvm::config::parse_yaml_bool(f), false) << f;
  }
  EXPECT_EQ(slurmvm::config::parse_yaml_bool("y"), std::nullopt);
  EXPECT_EQ(slurmvm::config::parse_yaml_bool("1"), std::nullopt);
  EXPECT_THAT([] { at(yaml("a: maybe"), "a").as_bool(); },
              ThrowsMessage<Error>(StrEq("f.yaml:1: a: expected true or false, got \"maybe\"")));
}

TEST(ConfigYamlReader, DescribesWhatItGot) {
  const Value root = yaml("l: [1]\nm: {a: 1}\ns: \"a\\\"b\\nc\"\n");
  EXPECT_EQ(at(root, "l").describe(), "a list");
  EXPECT_EQ(at(root, "m").describe(), "a mapping");
  EXPECT_EQ(at(root, "s").describe(), "\"a\\\"b\\nc\"");
  EXPECT_EQ(at(yaml(std::string("s: ") + std::string(100, 'x')), "s").describe(),
            "\"" + std::string(60, 'x') + "...\"");
}

TEST(ConfigYamlReader, DuplicateKeysAreErrors) {
  EXPECT_THAT([] { yaml("a: 1\nb: 2\na: 3\n").as_map(); },
              ThrowsMessage<Error>(StrEq("f.yaml:3: a: duplicate key, first defined at f.yaml:1")));
}

TEST(ConfigYamlReader, UnknownKeysAreErrorsWithASuggestion) {
  Mapping m = yaml("image: x\nimgae: y\n").as_map();
  m.get("image");
  m.get("resource-set");
  EXPECT_THAT([&] { m.reject_unknown_keys(); },
              ThrowsMessage<Error>(StrEq("f.yaml:2: imgae: unknown key, did you mean \"image\"?")));
  Mapping far = yaml("zzz: 1\n").as_map();
  far.get("image");
  far.get("resource-set");
  EXPECT_THAT([&] { far.reject_unknown_keys(); },
              ThrowsMessage<Error>(
                  StrEq("f.yaml:1: zzz: unknown key; expected one of: image, resource-set")));
}

TEST(ConfigYamlReader, MissingRequiredKeyIsLocatedAtTheMapping) {
  const Value root = yaml("net:\n  type: ib\n");
  Mapping m = at(root, "net").as_map();
  EXPECT_THAT([&] { m.require("settings"); },
              ThrowsMessage<Error>(StrEq("f.yaml:2: net: missing required key \"settings\"")));
}

TEST(ConfigYamlReader, MergeKeysApplyWithExplicitKeysFirst) {
  const Value root = yaml(
      "base: &base {image: a, nic-model: e1000}\n"
      "other: &other {image: b, machine-type: q35}\n"
      "t:\n"
      "  <<: [*base, *other]\n"
      "  image: c\n");
  Mapping m = at(root, "t").as_map();
  EXPECT_EQ(m.get("image")->as_string(), "c");
  EXPECT_EQ(m.get("nic-model")->as_string(), "e1000");
  EXPECT_EQ(m.get("machine-type")->as_string(), "q35");
  EXPECT_EQ(m.get("machine-type")->path(), "t.machine-type");
  EXPECT_EQ(m.get("machine-type")->line(), 2);  // where the text is
  EXPECT_THAT(
      [] { at(yaml("t:\n  <<: 3\n"), "t").as_map(); },
      ThrowsMessage<Error>(StrEq(
          "f.yaml:2: t.\"<<\": expected a mapping or a list of mappings to merge, got \"3\"")));
}

TEST(ConfigYamlReader, NonStringKeysAreErrors) {
  EXPECT_THAT([] { yaml("? [a, b]\n: 1\n").as_map(); },
              ThrowsMessage<Error>(StrEq("f.yaml:1: expected a string key, got a list")));
}

TEST(ConfigYamlReader, SyntaxErrorsGiveLineAndColumn) {
  EXPECT_THAT(
      [] { yaml("a: [1, 2\nb: 3\n"); },
      ThrowsMessage<Error>(StrEq("f.yaml:2:2: YAML syntax error: end of sequence flow not found")));
  EXPECT_THAT([] { yaml("a:\n\tb: 1\n"); },
              ThrowsMessage<Error>(StrEq("f.yaml:2:3: YAML syntax error: illegal map value (tabs "
                                         "cannot indent YAML: use spaces)")));
}

TEST(ConfigYamlReader, OneDocumentPerFile) {
  EXPECT_THAT(
      [] { yaml("a: 1\n---\nb: 2\n"); },
      ThrowsMessage<Error>(StrEq(
          "f.yaml:3: expected one YAML document, found several (remove the `---` separators)")));
  EXPECT_TRUE(yaml("").is_null());
  EXPECT_TRUE(yaml("# only a comment\n").is_null());
  EXPECT_TRUE(yaml("").as_map().empty());
}

TEST(ConfigYamlReader, ExpandableStringsHaveTheirSubstitutionsChecked) {
  EXPECT_EQ(at(yaml("p: \"%{homedir}/x\""), "p").as_expandable_string(), "%{homedir}/x");
  EXPECT_THAT(
      [] { at(yaml("p: \"%{home}/x\""), "p").as_expandable_string(); },
      ThrowsMessage<Error>(testing::StartsWith("f.yaml:1: p: unknown substitution \"%{home}\"")));
}

TEST(ConfigYamlReader, MissingFilesReadAsEmptyAndUnreadableOnesFail) {
  EXPECT_TRUE(slurmvm::config::read_yaml_file("/nonexistent/slurm-vm/x.yaml").is_null());
  try {
    slurmvm::config::read_yaml_file(SLURM_VM_TEST_DATA "/config");  // a directory
    FAIL() << "reading a directory succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    EXPECT_EQ(e.errnum(), EISDIR);
    EXPECT_EQ(e.message(), "cannot read " SLURM_VM_TEST_DATA "/config");
  }
}

TEST(ConfigYamlJson, PlainScalarsTakePyYamlTypes) {
  using slurmvm::config::plain_scalar_to_json;
  EXPECT_EQ(plain_scalar_to_json("~"), nullptr);
  EXPECT_EQ(plain_scalar_to_json("yes"), true);
  EXPECT_EQ(plain_scalar_to_json("Off"), false);
  EXPECT_EQ(plain_scalar_to_json("42"), 42);
  EXPECT_EQ(plain_scalar_to_json("-7"), -7);
  EXPECT_EQ(plain_scalar_to_json("0644"), 420);
  EXPECT_EQ(plain_scalar_to_json("0x1f"), 31);
  EXPECT_EQ(plain_scalar_to_json("1.5"), 1.5);
  EXPECT_EQ(plain_scalar_to_json("1e3"), "1e3");  // YAML 1.1 floats need a dot
  EXPECT_EQ(plain_scalar_to_json("1.0e+3"), 1000.0);
  EXPECT_EQ(plain_scalar_to_json("09"), "09");
  EXPECT_EQ(plain_scalar_to_json("1:30"), "1:30");
  EXPECT_EQ(plain_scalar_to_json(".inf"), ".inf");
  EXPECT_EQ(plain_scalar_to_json("."), ".");
  EXPECT_EQ(plain_scalar_to_json("hello"), "hello");
}

TEST(ConfigYamlJson, QuotedScalarsStayStrings) {
  const Value v = yaml("a: 'yes'\nb: yes\nc: !!str 0644\nd: [1, '1', {e: null}]\n");
  EXPECT_EQ(
      slurmvm::config::yaml_to_json(v),
      nlohmann::json::parse(R"({"a": "yes", "b": true, "c": "0644", "d": [1, "1", {"e": null}]})"));
}

// YAML's character set, checked before yaml-cpp, which loops forever on some text outside it
// (tests/fuzz/config_fuzz found `,"\x01\x06`; corpus/config_fuzz/regression-*).
TEST(ConfigYamlReader, TextOutsideYamlsCharacterSetIsASyntaxError) {
  auto refusal = [](std::string_view text) {
    try {
      (void)slurmvm::config::parse_yaml(text, "templates.yaml");
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::config);
      return std::string(e.what());
    }
    return std::string("parsed");
  };
  EXPECT_EQ(refusal(",\"\x01\x06"),
            "templates.yaml:1:3: YAML syntax error: a control character (U+0001), which YAML does not allow");
  EXPECT_EQ(refusal("base:\n  description: caf\xc3\xa9 \xff\n"),
            "templates.yaml:2:21: YAML syntax error: a byte that is not UTF-8 (0xff)");
  EXPECT_EQ(refusal("a: \xc0\xaf\n"), "templates.yaml:1:4: YAML syntax error: a byte that is not UTF-8 (0xc0)");  // overlong
  EXPECT_EQ(refusal("a: \xed\xa0\x80\n"), "templates.yaml:1:4: YAML syntax error: a byte that is not UTF-8 (0xed)");  // surrogate
  EXPECT_EQ(refusal("a: b\x7f\n"), "templates.yaml:1:5: YAML syntax error: a control character (U+007F), which YAML does not allow");
  // What YAML allows still parses: a byte-order mark, tabs in values, CRLF, any printable
  // character of any plane.
  EXPECT_EQ(refusal("\xef\xbb\xbf" "a: \"x\ty\"\r\nb: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa7\n"), "parsed");
}

// yaml-cpp 0.7's LoadAll never returns when a ',' stands where a document's root node would
// start (tests/fuzz/config_fuzz); parse_yaml drives its parser a document at a time instead.
TEST(ConfigYamlReader, ACommaWhereADocumentStartsIsASyntaxErrorNotAHang) {
  auto refusal = [](std::string_view text) {
    try {
      (void)slurmvm::config::parse_yaml(text, "networks.yaml");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("parsed");
  };
  EXPECT_EQ(refusal(","), "networks.yaml:1:1: YAML syntax error: a `,` outside a flow collection ([...] or {...})");
  EXPECT_EQ(refusal(" , a"), "networks.yaml:1:2: YAML syntax error: a `,` outside a flow collection ([...] or {...})");
  EXPECT_EQ(refusal("# c\n[a]\n,"), "networks.yaml:3:1: YAML syntax error: a `,` outside a flow collection ([...] or {...})");
  EXPECT_EQ(refusal("--- &x !t ,"), "networks.yaml:1:11: YAML syntax error: a `,` outside a flow collection ([...] or {...})");
  EXPECT_EQ(refusal("a: 1\n---\nb: 2\n"), "networks.yaml:3: expected one YAML document, found several (remove the `---` separators)");
  EXPECT_EQ(refusal("a: 1, 2\nb: [1, 2]\n"), "parsed");
  EXPECT_EQ(refusal(""), "parsed");
  EXPECT_EQ(refusal("# only a comment\n"), "parsed");
}
