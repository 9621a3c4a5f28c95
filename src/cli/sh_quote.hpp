// A word for a POSIX shell, whatever its bytes: single quotes, each ' as '\''. The batch script
// vm batch generates and the remote command of vm run --pty use it.
#pragma once

#include <string>

namespace slurmvm::cli {

inline std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

}  // namespace slurmvm::cli
