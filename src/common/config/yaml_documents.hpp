// How many documents a YAML stream holds, without building them. yaml-cpp 0.7's LoadAll loops
// forever when a ',' stands where a document's root node would start (`,` or `[a]\n,`: it
// yields empty documents without consuming it; found by tests/fuzz/config_fuzz): parse_yaml
// counts with the parser driven one document at a time, then builds the first.
#pragma once

#include <string>

#include <yaml-cpp/mark.h>

namespace slurmvm::config {

struct DocumentCount {
  int documents = 0;       // at most the limit asked for
  YAML::Mark second;       // where the second document starts (its `---`, or its first token)
  YAML::Mark second_root;  // its root node
};

// Parses at most `limit` documents of `text`. Throws YAML::Exception on a syntax error.
DocumentCount count_documents(const std::string& text, int limit);

}  // namespace slurmvm::config
