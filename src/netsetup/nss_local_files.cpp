// NSS answered by the local files for a while (nss_local_files.hpp).
#include "netsetup/nss_local_files.hpp"

#include <nss.h>

#include "error.hpp"
#include "file_read.hpp"
#include "log.hpp"

namespace slurmvm::netsetup {
namespace {

std::string_view trim_blanks(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

}  // namespace

std::string nsswitch_services(std::string_view text, std::string_view database) {
  // As glibc reads it (nss/nss_database.c, process_line): a line starting with '#' is a
  // comment, the database name ends at a blank or a colon, and the last line for a database
  // is the one that counts.
  std::string services = "files";
  while (!text.empty()) {
    const auto nl = std::min(text.find('\n'), text.size());
    std::string_view line = trim_blanks(text.substr(0, nl));
    text.remove_prefix(std::min(nl + 1, text.size()));
    if (line.empty() || line.front() == '#') continue;
    const auto name_end = std::min(line.find_first_of(" \t:"), line.size());
    if (line.substr(0, name_end) != database) continue;
    line.remove_prefix(name_end);
    line = trim_blanks(line);
    if (!line.empty() && line.front() == ':') line = trim_blanks(line.substr(1));
    services = line.empty() ? "files" : std::string(line);
  }
  return services;
}

NssLocalFilesOnly::NssLocalFilesOnly(std::string database) : database_(std::move(database)) {
  std::string conf;
  try {
    conf = read_file_if_exists("/etc/nsswitch.conf").value_or("");
  } catch (const Error&) {
    // Unreadable: glibc then uses its defaults, which is what restoring "files" gives back.
  }
  configured_ = nsswitch_services(conf, database_);
  if (::__nss_configure_lookup(database_.c_str(), "files") != 0) {
    log_warning("cannot restrict NSS database {} to the local files; nft may consult {}", database_, configured_);
  }
}

NssLocalFilesOnly::~NssLocalFilesOnly() { ::__nss_configure_lookup(database_.c_str(), configured_.c_str()); }

}  // namespace slurmvm::netsetup
