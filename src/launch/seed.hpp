// The content of a VM's cloud-init NoCloud seed (the ISO labelled `cidata`): pure functions from
// what the VM should be to the text of `meta-data` and `user-data`. Reading keys and writing the
// ISO are in ssh_keys.hpp and seed_iso.hpp.
//
// meta-data: instance-id, local-hostname, and public-keys (the user's keys, which cloud-init
// and small guests read there even when user-data is not cloud-config).
// user-data, our cloud-config: the user's SSH keys for root (ssh_authorized_keys with
// disable_root: false), and the VM's SSH host key (ssh_keys), so that clients can verify the VM
// from vm.json instead of trusting the first connection. Then the template's user-data:
//   - an inline mapping is merged into it: its keys win, except that our SSH keys are appended
//     to its ssh_authorized_keys and our ed25519 host key replaces any it gives;
//   - a file becomes a MIME multipart document: the file as its own part (its content type from
//     its first line, as cloud-init decides it), then ours, marked to append lists and add keys
//     without replacing the file's (Merge-Type).
#pragma once

#include <nlohmann/json.hpp>

#include "base64.hpp"  // base64_lines, for the user-data part

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace slurmvm::launch {

struct HostKey {
  std::string private_key;  // OpenSSH PEM text
  std::string public_key;   // "ssh-ed25519 AAAA... vm0"
};

// A template's user-data file, read.
struct UserDataFile {
  std::string name;     // base name, for the MIME part's file name
  std::string content;
};

// One NIC as the prolog planned it, matched by MAC: its static address on the job's L3
// network, none on an L2 segment (the VMs' own business), DHCP on a host bridge (the site's
// LAN).
struct SeedNic {
  std::string mac;
  std::string ip;  // empty: no address from us
  unsigned prefix = 0;
  std::string gateway;
  std::optional<unsigned> mtu;
  bool dhcp = false;
};

// The VM's NICs, written as a network-config (version 2) so that the guest needs no DHCP
// server on the job's networks.
struct SeedNetwork {
  std::vector<SeedNic> nics;  // eth0 first
  std::vector<std::pair<std::string, std::string>> hosts;  // name, address
};

// A host directory shared with the VM (template mount-points, 9p): mounted in the guest at
// `guest_path` by its tag, through cloud-config `mounts`.
struct SeedMount {
  std::string tag;
  std::string guest_path;
  bool readonly = false;
};

struct SeedInputs {
  std::optional<SeedNetwork> network;
  std::vector<SeedMount> mounts;
  std::string instance_id;
  std::string hostname;
  std::vector<std::string> authorized_keys;
  HostKey host_key;
  std::optional<nlohmann::json> inline_user_data;  // a cloud-config mapping
  std::optional<UserDataFile> user_data_file;
  std::string description;  // "vm0 of job 42": a comment in the generated files
};

struct SeedFiles {
  std::string meta_data;
  std::string user_data;
  std::string network_config;  // empty: none (the guest uses DHCP)
  std::string hosts;           // /etc/hosts lines for the job's VMs (slurm-vm extension)
  std::string host_key;        // the private host key again, as file ssh_host_ed25519_key, for
                               // guests without cloud-init (slurm-vm extension)
};

// `mime_boundary` separates the parts when user-data is a file; it must not occur in it.
// Throws Error(ErrorKind::config) for a template user-data cloud-init could not use.
SeedFiles build_seed_files(const SeedInputs& in, std::string_view mime_boundary);

// cloud-init's content type of a user-data document, from its first line ("#!" is
// text/x-shellscript, "#cloud-config" text/cloud-config, ...). Throws Error(ErrorKind::config)
// for content it would ignore or that we cannot wrap (gzip, MIME, unknown first line).
std::string user_data_content_type(std::string_view content);


// Our cloud-config mapping, merged with the template's inline one when given.
nlohmann::json our_cloud_config(const SeedInputs& in);

}  // namespace slurmvm::launch
