// TLS for the etcd client (etcd_client.hpp): https:// endpoints, the server's certificate
// checked against the site's CA (slurm-vm.yaml store.etcd.ca-cert, else the system's) and the
// endpoint's host name or IP address, and the node's client certificate for etcd's
// --client-cert-auth. OpenSSL (libssl3); TLS 1.2 at least. Each exchange is one connection, as
// for plain HTTP, with every step (handshake, write, read) within the request's deadline.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "deadline.hpp"

typedef struct ssl_ctx_st SSL_CTX;  // <openssl/ssl.h>, kept out of the callers

namespace slurmvm::vfio {

// slurm-vm.yaml store.etcd's files (absolute paths; empty: not given).
struct EtcdTlsFiles {
  std::string ca_cert;
  std::string client_cert;
  std::string client_key;
  bool empty() const noexcept { return ca_cert.empty() && client_cert.empty() && client_key.empty(); }
  bool operator==(const EtcdTlsFiles&) const = default;
};

class TlsClientContext {
 public:
  // Loads the CA and the client certificate and key. Error(config) naming the file that does
  // not load (or a key that does not match its certificate).
  explicit TlsClientContext(const EtcdTlsFiles& files);
  TlsClientContext(const TlsClientContext&) = delete;
  TlsClientContext& operator=(const TlsClientContext&) = delete;

  // Over `fd` (a connected, non-blocking TCP socket): the handshake with `host`'s certificate
  // verified, then `request`, then everything the server sends until it closes (at most
  // `max_bytes`). Error(timeout) past the deadline; Error(system) on a failed handshake, with
  // OpenSSL's reason (e.g. "certificate verify failed: unable to get local issuer
  // certificate").
  std::string exchange(int fd, const std::string& host, const std::string& request, Deadline deadline,
                       std::size_t max_bytes);

 private:
  struct Free {
    void operator()(SSL_CTX* ctx) const noexcept;
  };
  std::unique_ptr<SSL_CTX, Free> ctx_;
};

}  // namespace slurmvm::vfio
