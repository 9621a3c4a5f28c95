// templates.yaml's values: unknown keys and bad values refused where they are, mount points and
// drives checked, YAML merge keys.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/templates_loader.hpp"
#include "templates_fixture.hpp"
#include "error.hpp"

using slurmvm::Error;
using namespace slurmvm::config;
using namespace slurmvm::test;

TEST(ConfigTemplates, ReadyMarkerIsOneConsoleLine) {
  EXPECT_EQ(error_of("t: {ready-marker: \"a\\nb\"}\n"),
            "sys.yaml:1: t.ready-marker: expected one line of at most 200 characters the guest prints on its console, "
            "got \"a\\nb\"");
}

TEST(ConfigTemplates, UnknownKeysAndBadValues) {
  EXPECT_EQ(error_of("t: {imgae: x}\n"),
            "sys.yaml:1: t.imgae: unknown key, did you mean \"image\"?");
  EXPECT_EQ(
      error_of("t: {placeholder: true}\n"),
      "sys.yaml:1: t.placeholder: unknown key; expected one of: image, resource-set, inherits, "
      "description, user-data, instance-id, mount-points, persistent-drives, custom-args, "
      "qemu-bin, nic-model, disk-model, disk-cache, machine-type, cpu-model, emulator-cores, "
      "bind-vcpus, full-node, remote-display, kernel, ready-marker");
  EXPECT_EQ(error_of("t:\n  emulator-cores: two\n"),
            "sys.yaml:2: t.emulator-cores: expected a non-negative integer, got \"two\"");
  EXPECT_EQ(error_of("t: {emulator-cores: -1}\n"),
            "sys.yaml:1: t.emulator-cores: expected a non-negative integer, got \"-1\"");
  EXPECT_EQ(error_of("t: {disk-model: scsi}\n"),
            "sys.yaml:1: t.disk-model: expected one of virtio, virtio-scsi or ide, got \"scsi\"");
  EXPECT_EQ(error_of("t: {disk-cache: fast}\n"),
            "sys.yaml:1: t.disk-cache: expected one of writeback, none, unsafe, writethrough or "
            "directsync, got \"fast\"");
  EXPECT_EQ(error_of("t: {bind-vcpus: maybe}\n"),
            "sys.yaml:1: t.bind-vcpus: expected true or false, got \"maybe\"");
  EXPECT_EQ(error_of("t: {remote-display: vnc}\n"),
            "sys.yaml:1: t.remote-display: expected spice, got \"vnc\"");
  EXPECT_EQ(error_of("t: {user-data: [a]}\n"),
            "sys.yaml:1: t.user-data: expected a file path or an inline cloud-config mapping, got "
            "a list");
  EXPECT_EQ(error_of("t: {custom-args: -nographic}\n"),
            "sys.yaml:1: t.custom-args: expected a list, got \"-nographic\"");
  EXPECT_EQ(
      error_of("t: {image: \"%{homdir}/img\"}\n"),
      "sys.yaml:1: t.image: unknown substitution \"%{homdir}\" (known: %{env:VAR}, %{homedir}, "
      "%{user}, %{clusterdir}, %{clusteruser}, %{vm_rank})");
  EXPECT_EQ(error_of("t: [image]\n"), "sys.yaml:1: t: expected a mapping, got a list");
}

TEST(ConfigTemplates, MountPointsAndDrivesAreChecked) {
  EXPECT_EQ(
      error_of("t: {mount-points: {'a,b': /x}}\n"),
      "sys.yaml:1: t.mount-points.\"a,b\": invalid mount tag (expected 1 to 36 letters, digits, "
      "'_', '-' or '.')");
  EXPECT_EQ(error_of("t: {mount-points: {h: {readonly: true}}}\n"),
            "sys.yaml:1: t.mount-points.h: missing required key \"path\"");
  EXPECT_EQ(
      error_of("t: {mount-points: {h: {path: /h, type: nfs}}}\n"),
      "sys.yaml:1: t.mount-points.h.type: expected one of virtio-9p or virtio-fs, got \"nfs\"");
  EXPECT_EQ(
      error_of("t: {mount-points: {h: }}\n"),
      "sys.yaml:1: t.mount-points.h: expected a path or a mapping {path, readonly, type}, got "
      "an empty value");
  EXPECT_EQ(error_of("t: {persistent-drives: [/a, /a]}\n"),
            "sys.yaml:1: t.persistent-drives[1]: drive \"/a\" is listed twice");
  EXPECT_EQ(
      error_of("t: {persistent-drives: [{/a: {mmp: maybe}}]}\n"),
      "sys.yaml:1: t.persistent-drives[0].\"/a\".mmp: expected yes, no or cluster, got \"maybe\"");
  EXPECT_EQ(error_of("t: {persistent-drives: [{/a: {mode: rw}}]}\n"),
            "sys.yaml:1: t.persistent-drives[0].\"/a\".mode: unknown key; expected one of: mmp, "
            "cache, backup");
  // pcocc's own example indents the options like this, which makes them siblings of the path.
  EXPECT_EQ(error_of("t:\n"
                     "  persistent-drives:\n"
                     "    - '/path/to/second/drive':\n"
                     "      mmp: 'no'\n"),
            "sys.yaml:3: t.persistent-drives[0]: expected a path, or a mapping with one key, the "
            "path, holding its options (indented under the path), got a mapping");
  const Template t = load("t: {persistent-drives: [{/a: {mmp: 'no'}}, {/b: }]}\n").system.at("t");
  EXPECT_EQ(t.persistent_drives[0].mmp, Mmp::no);
  EXPECT_EQ(t.persistent_drives[1].mmp, Mmp::yes);
}

TEST(ConfigTemplates, MergeKeysShareSettings) {
  const TemplateSet set = load(
      "common: &common {resource-set: big, nic-model: e1000}\n"
      "a: {<<: *common, image: a}\n");
  EXPECT_EQ(set.system.at("a").nic_model, "e1000");
  EXPECT_EQ(set.system.at("a").resource_set, "big");
}
