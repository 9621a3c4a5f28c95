// One NSS database answered by the local files only, for as long as an object lives.
//
// libnftables resolves every user ID in a rule as a user NAME first (nftables src/meta.c,
// uid_type_parse: getpwnam() before strtoull()): `meta skuid 1000` asks every passwd service
// of nsswitch.conf for a user called "1000". On a site whose users come from LDAP or sssd that
// puts the directory's latency and outages on the prolog's critical path, and a directory user
// named "1000" would turn the owner rule into a rule for that user's uid. The helpers only ever
// hand nft numbers, so they ask /etc/passwd alone while nft parses (__nss_configure_lookup,
// <nss.h>: "for system programs which have to work around non-existing services").
//
// What it leaves behind, in the process that used it (glibc 2.33+, nss/nss_database.c): the
// configured services again, but no more reloads of nsswitch.conf and no nscd for passwd
// lookups. The helpers look their users up before their nftables batch (the job's user,
// dnsmasq's `nobody`), and a later lookup still reaches the same services, uncached. Not
// thread-safe: glibc takes no lock to change the database; the helpers' other thread (the
// link-group deletion) looks nothing up. On glibc before 2.33 the change may hold for the
// whole process or not at all; nothing breaks either way (files answer numbers).
#pragma once

#include <string>
#include <string_view>

namespace slurmvm::netsetup {

class NssLocalFilesOnly {
 public:
  explicit NssLocalFilesOnly(std::string database);  // "passwd"
  NssLocalFilesOnly(const NssLocalFilesOnly&) = delete;
  NssLocalFilesOnly& operator=(const NssLocalFilesOnly&) = delete;
  // Back to the services nsswitch.conf lists.
  ~NssLocalFilesOnly();

 private:
  std::string database_;
  std::string configured_;
};

// The services nsswitch.conf's text lists for `database` ("files systemd"), read as glibc reads
// it (the last line for the database counts; the colon may be left out); "files" when it has
// no such line (glibc's default for the databases the helpers use).
std::string nsswitch_services(std::string_view nsswitch_conf, std::string_view database);

}  // namespace slurmvm::netsetup
