// User-data, as a template or `--user-data` gives it, into the VM's cloud-init seed
// (launch/seed.hpp). The first byte picks the form:
//   - a file (even): its content type from its first line, then the MIME document that wraps it
//     with our cloud-config. Whatever the file holds, the document must have exactly its two
//     parts: the file's bytes cannot end a part or start one (they travel base64-encoded).
//   - an inline mapping (odd): JSON, merged with our cloud-config and written as block YAML for
//     PyYAML and the tiny guest's reader (cloud_yaml.hpp). Read back with YAML 1.1 types, the
//     text must give the very mapping we meant: a string that came back as another string, a
//     number, a new key or no YAML at all would change or break the guest's configuration.
#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include "config/yaml_json.hpp"
#include "config/yaml_reader.hpp"
#include "fuzz_input.hpp"
#include "launch/seed.hpp"

namespace {

using nlohmann::json;

slurmvm::launch::SeedInputs base_inputs() {
  slurmvm::launch::SeedInputs in;
  in.instance_id = "job-42-vm0";
  in.hostname = "vm0";
  in.authorized_keys = {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFuzz user@login"};
  in.host_key = {"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
                 "ssh-ed25519 AAAAHostKey vm0"};
  in.description = "vm0 of job 42";
  return in;
}

// Equal as cloud-init would see them: numbers by value (an integer may come back as a float
// of the same value: 1e3), everything else exactly.
bool same(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_number_float() || b.is_number_float()) return a.get<double>() == b.get<double>();
    return a.dump() == b.dump();
  }
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!same(a[i], b[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it) {
      if (!b.contains(it.key()) || !same(it.value(), b.at(it.key()))) return false;
    }
    return true;
  }
  return a == b;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto text = slurmvm::fuzz::as_text(data + 1, size - 1);
  auto in = base_inputs();
  const std::string boundary = "==svm-fuzz-boundary==";
  if (data[0] % 2 == 0) {
    in.user_data_file = slurmvm::launch::UserDataFile{"user-data.yaml", std::string(text)};
    slurmvm::fuzz::expect_parsed_or_refused([&] {
      const auto files = slurmvm::launch::build_seed_files(in, boundary);
      // Two parts: two delimiters, then the closing one.
      if (count(files.user_data, "\n--" + boundary + "\n") != 2 || count(files.user_data, "--" + boundary + "--") != 1) {
        std::abort();
      }
    });
    return 0;
  }
  const json inline_data = json::parse(text, nullptr, false);
  if (inline_data.is_discarded() || !inline_data.is_object()) return 0;
  in.inline_user_data = inline_data;
  slurmvm::fuzz::expect_parsed_or_refused([&] {
    const json meant = slurmvm::launch::our_cloud_config(in);
    const auto files = slurmvm::launch::build_seed_files(in, boundary);
    json read_back;
    try {
      read_back = slurmvm::config::yaml_to_json(slurmvm::config::parse_yaml(files.user_data, "user-data"));
    } catch (const slurmvm::Error&) {
      std::abort();  // we wrote YAML that does not read back
    }
    if (!same(meant, read_back)) std::abort();
  });
  return 0;
}
