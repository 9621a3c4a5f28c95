// SSH keys in a VM's seed: the user's public keys (authorised for root in the VM) and a host
// key generated for the VM, whose public half goes into vm.json so that `vm ssh` can check it.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "launch/seed.hpp"

namespace slurmvm::launch {

// True for an OpenSSH public key line: a known key type, then base64 starting "AAAA".
// Certificates and private keys are not public keys to authorise.
bool looks_like_public_key(std::string_view line);

// The public keys of `ssh_dir`/*.pub, files in name order, duplicates dropped. Throws
// Error(ErrorKind::not_found) when there is none: the message says to run ssh-keygen.
std::vector<std::string> read_user_public_keys(const std::filesystem::path& ssh_dir);

// A fresh ed25519 key pair from /usr/bin/ssh-keygen, written to `key_path` (and .pub) and read
// back; the private file is removed afterwards (the seed carries it), the .pub kept.
HostKey generate_host_key(const std::filesystem::path& key_path, const std::string& comment);

}  // namespace slurmvm::launch
