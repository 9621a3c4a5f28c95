// JSON to block-style YAML, for the NoCloud seed's meta-data and user-data. cloud-init reads
// them with PyYAML (YAML 1.1), and small guests (scripts/guest/tiny) with a line-oriented awk
// reader that knows block mappings, block sequences and quoted scalars but not flow mappings or
// JSON documents. So the output is block style, strings are written plain only when both
// readers surely take them as the same string, quoted otherwise, and multi-line strings (private
// host keys) are literal blocks.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace slurmvm::launch {

// The YAML text of `document` (any JSON value; a mapping at the top for cloud-config), ending
// with a newline. Invalid UTF-8 in strings is replaced, never thrown about.
std::string to_block_yaml(const nlohmann::json& document);

}  // namespace slurmvm::launch
