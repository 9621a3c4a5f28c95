// base64 (RFC 2045/4648 alphabet, `=` padding) in lines of 76 characters: what the seed's MIME
// parts and `vm batch`'s embedded scripts carry, decoded by cloud-init and `base64 -d`.
#pragma once

#include <string>
#include <string_view>

namespace slurmvm {

std::string base64_lines(std::string_view data);

// The same on one line, no newline: what JSON APIs take (etcd's gateway).
std::string base64_encode(std::string_view data);

// Decodes base64 (line breaks and other whitespace ignored, padding optional). Throws
// Error(system) on any other character: the text came from another program.
std::string base64_decode(std::string_view text);

}  // namespace slurmvm
