// NoCloud seed content (seed.hpp).
#include "launch/seed.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include <fmt/format.h>

#include "base64.hpp"
#include "error.hpp"
#include "launch/cloud_yaml.hpp"

namespace slurmvm::launch {
namespace {

using nlohmann::json;

// cloud-init's prefixes (cloudinit/handlers INCLUSION_TYPES_MAP), longest first so that
// "#cloud-config-archive" is not taken for "#cloud-config".
constexpr std::array<std::pair<std::string_view, std::string_view>, 9> kContentTypes = {{
    {"#cloud-config-archive", "text/cloud-config-archive"},
    {"#cloud-config-jsonp", "text/cloud-config-jsonp"},
    {"## template: jinja", "text/jinja2"},
    {"#cloud-boothook", "text/cloud-boothook"},
    {"#include-once", "text/x-include-once-url"},
    {"#cloud-config", "text/cloud-config"},
    {"#part-handler", "text/part-handler"},
    {"#include", "text/x-include-url"},
    {"#!", "text/x-shellscript"},
}};

// cloud-init merges cloud-config parts in order; this makes ours (the last) append to the
// file's lists (ssh_authorized_keys) and add only the keys the file does not set.
constexpr std::string_view kMergeType = "list(append)+dict(no_replace,recurse_list)+str()";

std::string header_comment(const SeedInputs& in) {
  return fmt::format("# slurm-vm: {} (written by vm-launch)\n", in.description);
}

std::string cloud_config_text(const json& config, const SeedInputs& in) {
  return "#cloud-config\n" + header_comment(in) + to_block_yaml(config);
}

// A file name safe inside a quoted MIME parameter.
std::string safe_filename(std::string_view name) {
  std::string out;
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') ? '_' : c;
  }
  return out.empty() ? "user-data" : out;
}

}  // namespace

std::string user_data_content_type(std::string_view content) {
  if (content.empty()) throw Error("the user-data file is empty", ErrorKind::config);
  if (content.size() >= 2 && static_cast<unsigned char>(content[0]) == 0x1f &&
      static_cast<unsigned char>(content[1]) == 0x8b) {
    throw Error("the user-data file is gzip-compressed: give it uncompressed (the seed is not "
                "size-limited)",
                ErrorKind::config);
  }
  // Headers: already a MIME document, which would have to be merged part by part.
  const std::string_view first_line = content.substr(0, content.find('\n'));
  std::string lower(first_line.substr(0, 16));
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); });
  if (lower.starts_with("content-type:") || lower.starts_with("mime-version:")) {
    throw Error("the user-data file is a MIME document: not supported yet; give a cloud-config "
                "(#cloud-config) or a script (#!) instead",
                ErrorKind::config);
  }
  for (const auto& [prefix, type] : kContentTypes) {
    if (content.starts_with(prefix)) return std::string(type);
  }
  throw Error(fmt::format("cloud-init would ignore the user-data file: its first line (\"{}\") "
                          "must start with #cloud-config, #!, #include, #cloud-boothook, "
                          "#part-handler or ## template: jinja",
                          first_line.substr(0, 40)),
              ErrorKind::config);
}

json our_cloud_config(const SeedInputs& in) {
  json config = json::object();
  if (in.inline_user_data) {
    if (!in.inline_user_data->is_object()) {
      throw Error("the template's inline user-data must be a mapping (cloud-config keys)",
                  ErrorKind::config);
    }
    config = *in.inline_user_data;
  }
  json& keys = config["ssh_authorized_keys"];
  if (keys.is_null()) keys = json::array();
  if (!keys.is_array()) {
    throw Error("the template's user-data ssh_authorized_keys must be a list", ErrorKind::config);
  }
  for (const std::string& key : in.authorized_keys) {
    if (std::find(keys.begin(), keys.end(), json(key)) == keys.end()) keys.push_back(key);
  }
  json& host_keys = config["ssh_keys"];
  if (host_keys.is_null()) host_keys = json::object();
  if (!host_keys.is_object()) {
    throw Error("the template's user-data ssh_keys must be a mapping", ErrorKind::config);
  }
  // Ours win: vm.json publishes this key for clients to check the VM against.
  host_keys["ed25519_private"] = in.host_key.private_key;
  host_keys["ed25519_public"] = in.host_key.public_key;
  // The keys are for root (vm ssh root@vm0); cloud-init's default would refuse root logins.
  if (!config.contains("disable_root")) config["disable_root"] = false;
  // bootcmd runs at every boot, early (cloud-init's init stage), whatever the instance id: a
  // saved image booted by another job gets that job's entries, not the old ones.
  auto bootcmd = [&config]() -> json& {
    json& b = config["bootcmd"];
    if (b.is_null()) b = json::array();
    if (!b.is_array()) throw Error("the template's user-data bootcmd must be a list", ErrorKind::config);
    return b;
  };
  // The template's mount-points, by tag (cloud-init's fstab-like `mounts`); nofail: a guest
  // without 9p still boots.
  if (!in.mounts.empty()) {
    json& mounts = config["mounts"];
    if (mounts.is_null()) mounts = json::array();
    if (!mounts.is_array()) throw Error("the template's user-data mounts must be a list", ErrorKind::config);
    for (const SeedMount& m : in.mounts) {
      const std::string options =
          fmt::format("trans=virtio,version=9p2000.L,msize=262144{}", m.readonly ? ",ro" : "");
      mounts.push_back({m.tag, m.guest_path, "9p", options + ",nofail", "0", "0"});
      // cloud-init before 23.1 drops `mounts` entries whose device is neither a block device nor
      // host:path (cc_mounts.sanitize_devname), so a 9p tag is ignored there (Debian 12's 22.4):
      // mount it from bootcmd too, unless already mounted. Tag and path are arguments, not code.
      bootcmd().push_back({"sh", "-c", "mountpoint -q \"$1\" || { mkdir -p \"$1\" && mount -t 9p -o \"$2\" \"$0\" \"$1\"; }",
                           m.tag, m.guest_path, options});
    }
  }
  // The other VMs' names (cloud-init has no key for /etc/hosts entries): our lines, marked, are
  // replaced at each boot. The tiny guest reads the seed's `hosts` file instead.
  if (in.network && !in.network->hosts.empty()) {
    json cmd = {"sh", "-c",
                "sed -i '/ # slurm-vm$/d' /etc/hosts && printf '%s # slurm-vm\\n' \"$@\" >>/etc/hosts", "slurm-vm-hosts"};
    for (const auto& [name, addr] : in.network->hosts) cmd.push_back(fmt::format("{} {}", addr, name));
    bootcmd().push_back(std::move(cmd));
  }
  return config;
}

SeedFiles build_seed_files(const SeedInputs& in, std::string_view mime_boundary) {
  SeedFiles files;
  json meta = json::object();
  meta["instance-id"] = in.instance_id;
  meta["local-hostname"] = in.hostname;
  meta["public-keys"] = in.authorized_keys;
  files.meta_data = header_comment(in) + to_block_yaml(meta);
  files.host_key = in.host_key.private_key;
  if (in.network) {
    const SeedNetwork& n = *in.network;
    json ethernets = json::object();
    for (std::size_t i = 0; i < n.nics.size(); ++i) {
      const SeedNic& nic = n.nics[i];
      // Matched by MAC, as cloud-init and the tiny guest both apply it, whatever the NIC's name.
      json eth = {{"match", {{"macaddress", nic.mac}}}};
      if (!nic.ip.empty()) {
        eth["addresses"] = json::array({fmt::format("{}/{}", nic.ip, nic.prefix)});
        if (!nic.gateway.empty()) eth["gateway4"] = nic.gateway;
      } else {
        eth["dhcp4"] = nic.dhcp;
        // A host LAN without DHCP must not hold the guest's boot (netplan's optional).
        if (nic.dhcp) eth["optional"] = true;
      }
      if (nic.mtu) eth["mtu"] = *nic.mtu;
      ethernets[fmt::format("eth{}", i)] = std::move(eth);
    }
    const json config = {{"version", 2}, {"ethernets", std::move(ethernets)}};
    files.network_config = header_comment(in) + to_block_yaml(config);
    for (const auto& [name, addr] : n.hosts) files.hosts += fmt::format("{} {}\n", addr, name);
  }

  if (!in.user_data_file) {
    files.user_data = cloud_config_text(our_cloud_config(in), in);
    return files;
  }

  const UserDataFile& file = *in.user_data_file;
  const std::string type = with_context(fmt::format("user-data file {}", file.name),
                                        [&] { return user_data_content_type(file.content); });
  SeedInputs ours_only = in;
  ours_only.inline_user_data.reset();
  const std::string ours = cloud_config_text(our_cloud_config(ours_only), in);
  // base64 for the user's part: the file may hold any bytes, and long lines or a stray
  // boundary-like line could not break the message. Our part is plain ASCII.
  const std::string theirs = base64_lines(file.content);
  const std::string delimiter = fmt::format("--{}", mime_boundary);
  if (ours.find(delimiter) != std::string::npos) {
    throw Error("MIME boundary found in the generated cloud-config", ErrorKind::internal);
  }
  std::string& out = files.user_data;
  out += fmt::format("Content-Type: multipart/mixed; boundary=\"{}\"\n", mime_boundary);
  out += "MIME-Version: 1.0\n";
  out += fmt::format("\n{}\n", delimiter);
  out += fmt::format("Content-Type: {}; charset=\"utf-8\"\n", type);
  out += "MIME-Version: 1.0\n";
  out += "Content-Transfer-Encoding: base64\n";
  out += fmt::format("Content-Disposition: attachment; filename=\"{}\"\n\n", safe_filename(file.name));
  out += theirs;
  out += fmt::format("{}\n", delimiter);
  out += "Content-Type: text/cloud-config; charset=\"utf-8\"\n";
  out += "MIME-Version: 1.0\n";
  out += fmt::format("Merge-Type: {}\n", kMergeType);
  out += "Content-Disposition: attachment; filename=\"slurm-vm.cfg\"\n\n";
  out += ours;
  out += fmt::format("{}--\n", delimiter);
  return files;
}

}  // namespace slurmvm::launch
