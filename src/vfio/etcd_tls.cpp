// TLS for the etcd client, over OpenSSL (etcd_tls.hpp).
#include "vfio/etcd_tls.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include <fmt/format.h>

#include "error.hpp"
#include "shared_library.hpp"

namespace slurmvm::vfio {
namespace {

// libssl (and libcrypto, its dependency), opened on first use (shared_library.hpp): only nodes
// whose pkey store is etcd over TLS need them, and linking them cost every helper start 3.4 ms.
// Each function with its header's declaration; the header's macros (SSL_CTX_set_min_proto_version,
// SSL_set_tlsext_host_name) are spelt as the ctrl calls they stand for.
struct OpenSsl {
  SharedLibrary lib = SharedLibrary::open(SLURM_VM_LIBSSL_SONAME, "TLS to etcd (slurm-vm.yaml store.etcd)",
                                          "libssl3 (Debian) or openssl-libs (RPM)");
#define SLURM_VM_OPENSSL(name) decltype(::name)* name = lib.function<decltype(::name)>(#name);
  SLURM_VM_OPENSSL(ERR_clear_error)
  SLURM_VM_OPENSSL(ERR_error_string_n)
  SLURM_VM_OPENSSL(ERR_get_error)
  SLURM_VM_OPENSSL(ERR_peek_error)
  SLURM_VM_OPENSSL(ERR_reason_error_string)
  SLURM_VM_OPENSSL(SSL_CTX_check_private_key)
  SLURM_VM_OPENSSL(SSL_CTX_free)
  SLURM_VM_OPENSSL(SSL_CTX_load_verify_locations)
  SLURM_VM_OPENSSL(SSL_CTX_new)
  SLURM_VM_OPENSSL(SSL_CTX_set_default_verify_paths)
  SLURM_VM_OPENSSL(SSL_CTX_ctrl)
  SLURM_VM_OPENSSL(SSL_CTX_set_options)
  SLURM_VM_OPENSSL(SSL_CTX_set_verify)
  SLURM_VM_OPENSSL(SSL_CTX_use_PrivateKey_file)
  SLURM_VM_OPENSSL(SSL_CTX_use_certificate_chain_file)
  SLURM_VM_OPENSSL(SSL_connect)
  SLURM_VM_OPENSSL(SSL_ctrl)
  SLURM_VM_OPENSSL(SSL_free)
  SLURM_VM_OPENSSL(SSL_get0_param)
  SLURM_VM_OPENSSL(SSL_get_error)
  SLURM_VM_OPENSSL(SSL_get_verify_result)
  SLURM_VM_OPENSSL(SSL_new)
  SLURM_VM_OPENSSL(SSL_read)
  SLURM_VM_OPENSSL(SSL_set1_host)
  SLURM_VM_OPENSSL(SSL_set_fd)
  SLURM_VM_OPENSSL(SSL_set_hostflags)
  SLURM_VM_OPENSSL(SSL_write)
  SLURM_VM_OPENSSL(TLS_client_method)
  SLURM_VM_OPENSSL(X509_VERIFY_PARAM_set1_ip_asc)
  SLURM_VM_OPENSSL(X509_verify_cert_error_string)
#undef SLURM_VM_OPENSSL
};

const OpenSsl& openssl() {
  static const OpenSsl loaded;
  return loaded;
}

// OpenSSL's queued reasons, oldest first, joined; `fallback` when it queued none.
std::string openssl_reasons(std::string fallback) {
  const OpenSsl& api = openssl();
  std::string out;
  while (const unsigned long e = api.ERR_get_error()) {
    char buf[256];
    api.ERR_error_string_n(e, buf, sizeof buf);
    if (const char* r = api.ERR_reason_error_string(e)) {
      if (!out.empty()) out += "; ";
      out += r;
    } else {
      if (!out.empty()) out += "; ";
      out += buf;
    }
  }
  return out.empty() ? std::move(fallback) : out;
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// OpenSSL writes to the socket with write(2): a peer that closed would raise SIGPIPE and kill a
// helper that does not ignore it. Blocked for the exchange; one raised meanwhile is consumed.
class SigpipeBlocked {
 public:
  SigpipeBlocked() {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe, &old_);
  }
  ~SigpipeBlocked() {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    if (!was_pending_) {
      const timespec zero{0, 0};
      while (sigtimedwait(&pipe, nullptr, &zero) > 0) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlocked(const SigpipeBlocked&) = delete;
  SigpipeBlocked& operator=(const SigpipeBlocked&) = delete;

 private:
  sigset_t old_{};
  bool was_pending_ = false;
};

struct FreeSsl {
  void operator()(SSL* s) const noexcept { openssl().SSL_free(s); }
};
using SslPtr = std::unique_ptr<SSL, FreeSsl>;

// Runs one OpenSSL I/O call until it completes, waiting on the socket as it asks, within the
// deadline. Returns its positive result, or 0 at the end of the stream.
template <class Op>
int drive(SSL* ssl, int fd, Deadline deadline, const char* what, Op op) {
  const OpenSsl& api = openssl();
  for (;;) {
    api.ERR_clear_error();
    const int r = op();
    if (r > 0) return r;
    switch (api.SSL_get_error(ssl, r)) {
      case SSL_ERROR_WANT_READ:
        if (!wait_fd(fd, POLLIN, deadline)) throw Error(fmt::format("etcd TLS {}: timed out", what), ErrorKind::timeout);
        continue;
      case SSL_ERROR_WANT_WRITE:
        if (!wait_fd(fd, POLLOUT, deadline)) throw Error(fmt::format("etcd TLS {}: timed out", what), ErrorKind::timeout);
        continue;
      case SSL_ERROR_ZERO_RETURN:
        return 0;
      case SSL_ERROR_SYSCALL:
        if (api.ERR_peek_error() == 0) {
          const int err = errno;
          throw Error::from_errno(fmt::format("etcd TLS {}", what), err != 0 ? err : ECONNRESET);
        }
        [[fallthrough]];
      default: {
        std::string reason = openssl_reasons("failed");
        if (const long v = api.SSL_get_verify_result(ssl); v != X509_V_OK) {
          reason += fmt::format(": {}", api.X509_verify_cert_error_string(v));
        }
        throw Error(fmt::format("etcd TLS {}: {}", what, reason), ErrorKind::system);
      }
    }
  }
}

}  // namespace

void TlsClientContext::Free::operator()(SSL_CTX* ctx) const noexcept { openssl().SSL_CTX_free(ctx); }

TlsClientContext::TlsClientContext(const EtcdTlsFiles& files) {
  const OpenSsl& api = openssl();
  ctx_.reset(api.SSL_CTX_new(api.TLS_client_method()));
  if (!ctx_) throw Error(openssl_reasons("SSL_CTX_new failed"), ErrorKind::internal);
  SSL_CTX* const ctx = ctx_.get();
  auto fail = [&](const std::string& what) {
    throw Error(fmt::format("slurm-vm.yaml store.etcd: {}: {}", what, openssl_reasons("failed")), ErrorKind::config);
  };
  // (SSL_CTX_set_min_proto_version is a macro over SSL_CTX_ctrl.)
  api.SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, nullptr);
  api.SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  // etcd (Go) may close after its answer without close_notify: the HTTP/1.0 body ends there,
  // and a cut one fails as JSON.
  api.SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (!files.ca_cert.empty()) {
    if (api.SSL_CTX_load_verify_locations(ctx, files.ca_cert.c_str(), nullptr) != 1) {
      fail(fmt::format("ca-cert {}", files.ca_cert));
    }
  } else if (api.SSL_CTX_set_default_verify_paths(ctx) != 1) {
    fail("the system's CA certificates");
  }
  if (files.client_cert.empty() != files.client_key.empty()) {
    throw Error("slurm-vm.yaml store.etcd: client-cert and client-key go together", ErrorKind::config);
  }
  if (!files.client_cert.empty()) {
    if (api.SSL_CTX_use_certificate_chain_file(ctx, files.client_cert.c_str()) != 1) {
      fail(fmt::format("client-cert {}", files.client_cert));
    }
    if (api.SSL_CTX_use_PrivateKey_file(ctx, files.client_key.c_str(), SSL_FILETYPE_PEM) != 1) {
      fail(fmt::format("client-key {}", files.client_key));
    }
    if (api.SSL_CTX_check_private_key(ctx) != 1) {
      fail(fmt::format("client-key {} does not match client-cert {}", files.client_key, files.client_cert));
    }
  }
}

std::string TlsClientContext::exchange(int fd, const std::string& host, const std::string& request, Deadline deadline,
                                       std::size_t max_bytes) {
  const OpenSsl& api = openssl();
  SigpipeBlocked no_sigpipe;
  SslPtr ssl(api.SSL_new(ctx_.get()));
  if (!ssl) throw Error(openssl_reasons("SSL_new failed"), ErrorKind::internal);
  api.SSL_set_fd(ssl.get(), fd);
  // The name the certificate must carry: the endpoint's IP address (an IP SAN) or host name.
  if (is_ip_literal(host)) {
    if (api.X509_VERIFY_PARAM_set1_ip_asc(api.SSL_get0_param(ssl.get()), host.c_str()) != 1) {
      throw Error(fmt::format("etcd TLS: {}: not an IP address", host), ErrorKind::config);
    }
  } else {
    // SNI too (SSL_set_tlsext_host_name is a macro with a C cast).
    api.SSL_set_hostflags(ssl.get(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (api.SSL_set1_host(ssl.get(), host.c_str()) != 1 || api.SSL_ctrl(ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                                                          const_cast<char*>(host.c_str())) != 1) {
      throw Error(fmt::format("etcd TLS: {}: not a host name", host), ErrorKind::config);
    }
  }
  if (drive(ssl.get(), fd, deadline, "handshake", [&] { return api.SSL_connect(ssl.get()); }) == 0) {
    throw Error("etcd TLS handshake: the server closed the connection", ErrorKind::system);
  }
  std::size_t sent = 0;
  while (sent < request.size()) {
    const std::size_t chunk = std::min<std::size_t>(request.size() - sent, 1 << 20);
    const int n = drive(ssl.get(), fd, deadline, "write", [&] {
      return api.SSL_write(ssl.get(), request.data() + sent, static_cast<int>(chunk));
    });
    if (n == 0) throw Error("etcd TLS write: the server closed the connection", ErrorKind::system);
    sent += static_cast<std::size_t>(n);
  }
  std::string response;
  char buf[16384];
  for (;;) {
    const int n = drive(ssl.get(), fd, deadline, "read", [&] { return api.SSL_read(ssl.get(), buf, sizeof buf); });
    if (n == 0) return response;
    response.append(buf, static_cast<std::size_t>(n));
    if (response.size() > max_bytes) throw Error("etcd's answer is too large", ErrorKind::system);
  }
}

}  // namespace slurmvm::vfio
