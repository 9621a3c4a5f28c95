// A small client of etcd v3's JSON gateway (etcd's grpc-gateway: POST /v3/kv/range, /v3/kv/txn,
// /v3/kv/deleterange, /v3/lease/grant, /v3/lease/keepalive, with keys and values base64 and
// 64-bit numbers as strings; etcd 3.4, Debian's etcd-server), for the pkey store of sites that
// outgrow the shared directory. HTTP/1.0 over TCP, or over TLS for https:// endpoints
// (etcd_tls.hpp), one connection per request, every step within the request's deadline;
// endpoints are tried in order until one answers.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vfio/etcd_tls.hpp"

namespace slurmvm::vfio {

struct EtcdKv {
  std::string key;
  std::string value;
  std::int64_t create_revision = 0;
  std::int64_t mod_revision = 0;
  std::int64_t lease = 0;
};

// One "http://host:port" or "https://host:port" endpoint, parsed. Throws Error(config) for
// anything else (another scheme, a path, no port).
struct EtcdEndpoint {
  std::string host;
  std::string port;
  bool tls = false;
};
EtcdEndpoint parse_etcd_endpoint(const std::string& url);

class EtcdClient {
 public:
  // `tls`: the CA and client certificate for https:// endpoints (slurm-vm.yaml store.etcd);
  // given with only http:// endpoints, Error(config): a site that set certificates means TLS.
  explicit EtcdClient(std::vector<std::string> endpoints,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10), const EtcdTlsFiles& tls = {});

  // The keys with `prefix` (every key that starts with it), sorted by key.
  std::vector<EtcdKv> range_prefix(const std::string& prefix);
  // Puts `value` at `key` with `lease` (0: none) if the key does not exist (create_revision 0),
  // in one transaction; false when it exists. `also` are more puts made in the same transaction.
  bool create(const std::string& key, const std::string& value, std::int64_t lease,
              const std::vector<std::pair<std::string, std::string>>& also = {});
  // Puts every (key, value) of `puts` with `lease` in one transaction if `guard` still has create
  // revision `created` (it was not deleted and made again meanwhile); false otherwise.
  bool put_if_created_at(const std::string& guard, std::int64_t created,
                         const std::vector<std::pair<std::string, std::string>>& puts, std::int64_t lease);
  // Deletes `key` if its mod revision is still `modified`; false otherwise.
  bool remove_if_modified_at(const std::string& key, std::int64_t modified);
  void put(const std::string& key, const std::string& value, std::int64_t lease);
  // Deletes `key` (or every key with prefix `key` when `prefix`); returns how many went.
  std::int64_t remove(const std::string& key, bool prefix = false);
  // A lease of id `id` and `ttl`; an existing one of that id is kept (etcd's "lease already
  // exists"): every node of a job grants the job's.
  void grant_lease(std::int64_t id, std::chrono::seconds ttl);
  // Renews lease `id`; false when it is gone (expired or revoked).
  bool keep_alive(std::int64_t id);

  // POST `path` with `body`; the answer's JSON. Error(system) naming the endpoints when none
  // answers, Error(config) with etcd's message when it refuses the request.
  nlohmann::json call(const std::string& path, const nlohmann::json& body);

 private:
  std::vector<EtcdEndpoint> endpoints_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<TlsClientContext> tls_;  // with any https:// endpoint
};

// Pure: the end of the range of keys that start with `prefix` (the prefix with its last byte
// incremented, trailing 0xff bytes dropped); empty when every key is in it (etcd's "\0").
std::string prefix_end(std::string_view prefix);

// Pure: the body of an HTTP response ("HTTP/1.x 200 OK\r\n...\r\n\r\n{...}") as JSON, with its
// status. Error(system) when it is not one.
std::pair<int, nlohmann::json> parse_http_json_response(std::string_view response);

}  // namespace slurmvm::vfio
