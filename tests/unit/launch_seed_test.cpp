// The NoCloud seed's text: block YAML that PyYAML and the tiny guest's reader agree on,
// meta-data, our cloud-config merged with a template's inline one, MIME multipart around a
// template's file, and which SSH public keys are taken.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "error.hpp"
#include "launch/cloud_yaml.hpp"
#include "launch/seed.hpp"
#include "launch/ssh_keys.hpp"

using nlohmann::json;
using slurmvm::Error;
using slurmvm::ErrorKind;
using namespace slurmvm::launch;
using testing::HasSubstr;

namespace {

const std::string kUserKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKkUw8z8zXrAqTsGnmj61OxhVReibcvGii3fLgcD8zJG alice@login";
const std::string kHostPub = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO+JRgZk7k5HCQBO2zINc0Yme5Lr9wtboMX3/L/uQNZe vm3";
const std::string kHostPriv =
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----\n";

SeedInputs inputs() {
  SeedInputs in;
  in.instance_id = "42-vm3";
  in.hostname = "vm3";
  in.authorized_keys = {kUserKey};
  in.host_key = {kHostPriv, kHostPub};
  in.description = "vm3 of job 42";
  return in;
}

}  // namespace

TEST(LaunchCloudYaml, BlockStyleWithSafeScalars) {
  const json doc = json::parse(R"({
      "packages": ["qemu-guest-agent", "nfs-common"],
      "runcmd": [["systemctl", "start", "qemu-guest-agent"], "echo hi: there"],
      "users": [{"name": "demo", "sudo": "ALL=(ALL) NOPASSWD:ALL", "groups": []}],
      "write_files": [{"path": "/etc/x", "permissions": "0644", "content": "line1\nline2\n"}],
      "bools": {"yes": "yes", "on": true, "n": null, "num": 1.5, "big": 1e20, "int": 7},
      "empty": {}
  })");
  EXPECT_EQ(to_block_yaml(doc),
            "bools:\n"
            "  big: 1.0e+20\n"
            "  int: 7\n"
            "  \"n\": null\n"
            "  num: 1.5\n"
            "  \"on\": true\n"
            "  \"yes\": \"yes\"\n"
            "empty: {}\n"
            "packages:\n"
            "  - qemu-guest-agent\n"
            "  - nfs-common\n"
            "runcmd:\n"
            "  - - systemctl\n"
            "    - start\n"
            "    - qemu-guest-agent\n"
            "  - \"echo hi: there\"\n"
            "users:\n"
            "  - groups: []\n"
            "    name: demo\n"
            "    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n"
            "write_files:\n"
            "  - content: |\n"
            "      line1\n"
            "      line2\n"
            "    path: /etc/x\n"
            "    permissions: \"0644\"\n");
}

TEST(LaunchCloudYaml, StringsThatYaml11WouldRetypeAreQuoted) {
  for (const char* s : {"yes", "No", "off", "null", "~", "123", "0x1f", "1_000", "1:30", ".inf", "=", "y",
                        "-dash", "a #b", "trailing ", "", "@at", "tab\there"}) {
    const std::string out = to_block_yaml(json{{"k", s}});
    EXPECT_TRUE(out.starts_with("k: \"")) << s << " -> " << out;
  }
  for (const char* s : {"plain", "/usr/bin/x", kUserKey.c_str(), "a.b-c_d+e=f@g"}) {
    EXPECT_EQ(to_block_yaml(json{{"k", s}}), std::string("k: ") + s + "\n") << s;
  }
}

TEST(LaunchCloudYaml, MultiLineStringsKeepTheirTrailingNewlines) {
  EXPECT_EQ(to_block_yaml(json{{"k", "a\nb"}}), "k: |-\n  a\n  b\n");
  EXPECT_EQ(to_block_yaml(json{{"k", "a\n\nb\n"}}), "k: |\n  a\n\n  b\n");
  EXPECT_EQ(to_block_yaml(json{{"k", "a\n\n"}}), "k: |+\n  a\n\n");
  // A leading space or a carriage return cannot go into a literal block: quoted instead.
  EXPECT_EQ(to_block_yaml(json{{"k", " a\nb"}}), "k: \" a\\nb\"\n");
  EXPECT_EQ(to_block_yaml(json{{"k", "a\r\nb"}}), "k: \"a\\r\\nb\"\n");
}

// What YAML must not see raw: DEL and the C1 controls are not printable (PyYAML refuses the
// whole user-data), NEL, LS and PS are line breaks to YAML 1.1, U+FFFE is no character. Each is
// escaped in a quoted scalar, keys included, and keeps a string out of a literal block
// (found by tests/fuzz/user_data_fuzz.cpp: a DEL in a key).
TEST(LaunchCloudYaml, CharactersYamlMustNotSeeRawAreEscaped) {
  EXPECT_EQ(to_block_yaml(json{{"a\x7f", "b\x7f"}}), "\"a\\u007f\": \"b\\u007f\"\n");
  EXPECT_EQ(to_block_yaml(json{{"k", "x\xc2\x85y\xc2\x9f"}}), "k: \"x\\u0085y\\u009f\"\n");
  EXPECT_EQ(to_block_yaml(json{{"k", "x\xe2\x80\xa8y\xe2\x80\xa9"}}), "k: \"x\\u2028y\\u2029\"\n");
  EXPECT_EQ(to_block_yaml(json{{"k", "\xef\xbf\xbe"}}), "k: \"\\ufffe\"\n");
  EXPECT_EQ(to_block_yaml(json{{"k", "a\nb\xc2\x85" "c"}}), "k: \"a\\nb\\u0085c\"\n");
  // Printable non-ASCII stays as it is (quoted: never plain).
  EXPECT_EQ(to_block_yaml(json{{"k", "\xc3\xa9t\xc3\xa9"}}), "k: \"\xc3\xa9t\xc3\xa9\"\n");
}

TEST(LaunchSeed, MetaData) {
  EXPECT_EQ(build_seed_files(inputs(), "B").meta_data,
            "# slurm-vm: vm3 of job 42 (written by vm-launch)\n"
            "instance-id: \"42-vm3\"\n"
            "local-hostname: vm3\n"
            "public-keys:\n"
            "  - " + kUserKey + "\n");
}

TEST(LaunchSeed, UserDataWithoutTemplateUserData) {
  EXPECT_EQ(build_seed_files(inputs(), "B").user_data,
            "#cloud-config\n"
            "# slurm-vm: vm3 of job 42 (written by vm-launch)\n"
            "disable_root: false\n"
            "ssh_authorized_keys:\n"
            "  - " + kUserKey + "\n"
            "ssh_keys:\n"
            "  ed25519_private: |\n"
            "    -----BEGIN OPENSSH PRIVATE KEY-----\n"
            "    b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
            "    -----END OPENSSH PRIVATE KEY-----\n"
            "  ed25519_public: " + kHostPub + "\n");
}

TEST(LaunchSeed, InlineUserDataIsMergedTheirsFirst) {
  SeedInputs in = inputs();
  in.inline_user_data = json::parse(R"({
      "packages": ["qemu-guest-agent"],
      "disable_root": true,
      "ssh_authorized_keys": ["ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ bob@x", ")" + kUserKey + R"("],
      "ssh_keys": {"rsa_private": "x", "ed25519_public": "theirs"}})");
  const json merged = our_cloud_config(in);
  EXPECT_EQ(merged["packages"], json::array({"qemu-guest-agent"}));
  EXPECT_EQ(merged["disable_root"], true);  // theirs wins
  EXPECT_EQ(merged["ssh_authorized_keys"],
            json::array({"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ bob@x", kUserKey}));  // no duplicate
  EXPECT_EQ(merged["ssh_keys"]["rsa_private"], "x");
  EXPECT_EQ(merged["ssh_keys"]["ed25519_public"], kHostPub);  // ours: vm.json publishes it
  const std::string text = build_seed_files(in, "B").user_data;
  EXPECT_TRUE(text.starts_with("#cloud-config\n")) << text;
  EXPECT_THAT(text, HasSubstr("packages:\n  - qemu-guest-agent\n"));
}

TEST(LaunchSeed, InlineUserDataOfTheWrongShapeIsAConfigError) {
  SeedInputs in = inputs();
  in.inline_user_data = json::parse(R"({"ssh_authorized_keys": "ssh-rsa AAAA"})");
  EXPECT_THROW(our_cloud_config(in), Error);
  in.inline_user_data = json::array({1});
  EXPECT_THROW(our_cloud_config(in), Error);
}

TEST(LaunchSeed, UserDataFileBecomesMultipart) {
  SeedInputs in = inputs();
  in.user_data_file = UserDataFile{"setup.sh", "#!/bin/sh\necho hello\n"};
  const std::string text = build_seed_files(in, "==B==").user_data;
  const std::string ours =
      "#cloud-config\n"
      "# slurm-vm: vm3 of job 42 (written by vm-launch)\n"
      "disable_root: false\n"
      "ssh_authorized_keys:\n"
      "  - " + kUserKey + "\n"
      "ssh_keys:\n"
      "  ed25519_private: |\n"
      "    -----BEGIN OPENSSH PRIVATE KEY-----\n"
      "    b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
      "    -----END OPENSSH PRIVATE KEY-----\n"
      "  ed25519_public: " + kHostPub + "\n";
  EXPECT_EQ(text,
            "Content-Type: multipart/mixed; boundary=\"==B==\"\n"
            "MIME-Version: 1.0\n"
            "\n"
            "--==B==\n"
            "Content-Type: text/x-shellscript; charset=\"utf-8\"\n"
            "MIME-Version: 1.0\n"
            "Content-Transfer-Encoding: base64\n"
            "Content-Disposition: attachment; filename=\"setup.sh\"\n"
            "\n"
            "IyEvYmluL3NoCmVjaG8gaGVsbG8K\n"
            "--==B==\n"
            "Content-Type: text/cloud-config; charset=\"utf-8\"\n"
            "MIME-Version: 1.0\n"
            "Merge-Type: list(append)+dict(no_replace,recurse_list)+str()\n"
            "Content-Disposition: attachment; filename=\"slurm-vm.cfg\"\n"
            "\n" + ours +
            "--==B==--\n");
}

TEST(LaunchSeed, ContentTypesAsCloudInitDecidesThem) {
  EXPECT_EQ(user_data_content_type("#cloud-config\na: 1\n"), "text/cloud-config");
  EXPECT_EQ(user_data_content_type("#cloud-config-archive\n- a\n"), "text/cloud-config-archive");
  EXPECT_EQ(user_data_content_type("#!/bin/bash\n"), "text/x-shellscript");
  EXPECT_EQ(user_data_content_type("#include\nhttp://x\n"), "text/x-include-url");
  EXPECT_EQ(user_data_content_type("#include-once\nhttp://x\n"), "text/x-include-once-url");
  EXPECT_EQ(user_data_content_type("#cloud-boothook\n"), "text/cloud-boothook");
  EXPECT_EQ(user_data_content_type("## template: jinja\n#cloud-config\n"), "text/jinja2");
  for (const char* bad : {"", "packages: [x]\n", "Content-Type: multipart/mixed\n", "\x1f\x8b\x08"}) {
    try {
      user_data_content_type(bad);
      FAIL() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::config);
    }
  }
}

TEST(LaunchSeed, Base64) {
  EXPECT_EQ(slurmvm::base64_lines(""), "");
  EXPECT_EQ(slurmvm::base64_lines("f"), "Zg==\n");
  EXPECT_EQ(slurmvm::base64_lines("fo"), "Zm8=\n");
  EXPECT_EQ(slurmvm::base64_lines("foo"), "Zm9v\n");
  // 60 bytes are 80 characters: a line of 76, then the rest.
  std::string line;
  for (int i = 0; i < 19; ++i) line += "eHh4";
  EXPECT_EQ(slurmvm::base64_lines(std::string(60, 'x')), line + "\neHh4\n");
}

TEST(LaunchSshKeys, WhatCountsAsAPublicKey) {
  EXPECT_TRUE(looks_like_public_key(kUserKey));
  EXPECT_TRUE(looks_like_public_key("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAI"));
  EXPECT_TRUE(looks_like_public_key("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ"));
  EXPECT_FALSE(looks_like_public_key("ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQ"));
  EXPECT_FALSE(looks_like_public_key("-----BEGIN OPENSSH PRIVATE KEY-----"));
  EXPECT_FALSE(looks_like_public_key("ssh-ed25519 notbase64"));
  EXPECT_FALSE(looks_like_public_key("# ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"));
}

TEST(LaunchSshKeys, ReadsEveryPubFileInOrderWithoutDuplicates) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "launch_keys.XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const std::filesystem::path dir = tmpl;
  std::ofstream(dir / "id_rsa.pub") << "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ me@a\r\n";
  std::ofstream(dir / "id_ed25519.pub") << kUserKey << "\n\n" << kUserKey << "\n";
  std::ofstream(dir / "id_ed25519") << kHostPriv;
  std::ofstream(dir / "id_ed25519-cert.pub") << "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQ\n";
  std::ofstream(dir / "authorized_keys") << "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ other@b\n";
  EXPECT_EQ(read_user_public_keys(dir),
            (std::vector<std::string>{kUserKey, "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ me@a"}));
  std::filesystem::remove(dir / "id_rsa.pub");
  std::filesystem::remove(dir / "id_ed25519.pub");
  try {
    read_user_public_keys(dir);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_THAT(e.what(), HasSubstr("ssh-keygen"));
  }
  std::filesystem::remove_all(dir);
}

TEST(LaunchSeed, NetworkConfigHasEveryNicInOrder) {
  SeedInputs in = inputs();
  SeedNetwork net;
  net.nics = {SeedNic{"52:54:00:02:a0:03", "10.128.42.5", 20, "10.128.42.1", 1450, false},
              SeedNic{"52:54:01:02:a0:03", "", 0, "", 1450, false},
              SeedNic{"42:00:00:2a:20:03", "", 0, "", std::nullopt, true}};
  net.hosts = {{"vm3", "10.128.42.5"}};
  in.network = net;
  const SeedFiles files = build_seed_files(in, "BOUNDARY");
  const std::string& nc = files.network_config;
  EXPECT_THAT(nc, HasSubstr("version: 2\n"));
  EXPECT_THAT(nc,
              HasSubstr("  eth0:\n    addresses:\n      - \"10.128.42.5/20\"\n    gateway4: \"10.128.42.1\"\n"
                        "    match:\n      macaddress: \"52:54:00:02:a0:03\"\n    mtu: 1450\n"));
  // The L2 segment: no address from us; the host bridge: the site's DHCP, not waited for.
  EXPECT_THAT(nc, HasSubstr("  eth1:\n    dhcp4: false\n    match:\n      macaddress: \"52:54:01:02:a0:03\"\n    mtu: 1450\n"));
  EXPECT_THAT(nc, HasSubstr("  eth2:\n    dhcp4: true\n    match:\n      macaddress: \"42:00:00:2a:20:03\"\n    optional: true\n"));
  EXPECT_EQ(files.hosts, "10.128.42.5 vm3\n");
}

TEST(LaunchSeed, MountPointsBecomeCloudConfigMounts) {
  SeedInputs in = inputs();
  in.mounts = {SeedMount{"home", "/home/alice", false}, SeedMount{"ro", "/data", true}};
  const json c = our_cloud_config(in);
  ASSERT_EQ(c.at("mounts").size(), 2u);
  EXPECT_EQ(c.at("mounts")[0], json::parse(R"(["home", "/home/alice", "9p",
      "trans=virtio,version=9p2000.L,msize=262144,nofail", "0", "0"])"));
  EXPECT_EQ(c.at("mounts")[1][3], "trans=virtio,version=9p2000.L,msize=262144,ro,nofail");
  // cloud-init 22 ignores 9p tags in `mounts`: bootcmd mounts them, tag and path as arguments.
  ASSERT_EQ(c.at("bootcmd").size(), 2u);
  EXPECT_EQ(c.at("bootcmd")[1], json::parse(R"(["sh", "-c",
      "mountpoint -q \"$1\" || { mkdir -p \"$1\" && mount -t 9p -o \"$2\" \"$0\" \"$1\"; }",
      "ro", "/data", "trans=virtio,version=9p2000.L,msize=262144,ro"])"));
}

TEST(LaunchSeed, TheOtherVmsNamesGoToEtcHostsAtEveryBoot) {
  SeedInputs in = inputs();
  SeedNetwork net;
  net.hosts = {{"vm0", "10.128.42.4"}, {"vm1", "10.128.42.5"}};
  in.network = net;
  in.inline_user_data = json::parse(R"({"bootcmd": ["echo theirs"]})");
  const json c = our_cloud_config(in);
  ASSERT_EQ(c.at("bootcmd").size(), 2u);
  EXPECT_EQ(c.at("bootcmd")[0], "echo theirs");
  EXPECT_EQ(c.at("bootcmd")[1], json::parse(R"(["sh", "-c",
      "sed -i '/ # slurm-vm$/d' /etc/hosts && printf '%s # slurm-vm\\n' \"$@\" >>/etc/hosts",
      "slurm-vm-hosts", "10.128.42.4 vm0", "10.128.42.5 vm1"])"));
  in.inline_user_data = json::parse(R"({"bootcmd": "not a list"})");
  EXPECT_THROW(our_cloud_config(in), Error);
}
