// etcd v3's JSON gateway over HTTP (etcd_client.hpp).
#include "vfio/etcd_client.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

#include "base64.hpp"
#include "deadline.hpp"
#include "error.hpp"
#include "resolve.hpp"
#include "unique_fd.hpp"

namespace slurmvm::vfio {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxResponseBytes = 64 << 20;

std::string b64(std::string_view s) { return base64_encode(s); }

std::int64_t int_field(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end()) return 0;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (!it->is_string()) throw Error(fmt::format("etcd: \"{}\" is not a number", key), ErrorKind::system);
  const std::string s = it->get<std::string>();
  std::int64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    throw Error(fmt::format("etcd: \"{}\" is not a number: {}", key, s), ErrorKind::system);
  }
  return v;
}

// One TCP connection to `ep`, resolved and connected within the deadline.
UniqueFd connect_tcp(const EtcdEndpoint& ep, Deadline deadline) {
  const auto lists = resolve_all({{ep.host, ep.port, AF_UNSPEC, SOCK_STREAM}}, deadline);
  addrinfo* res = lists.front().get();
  int last = ECONNREFUSED;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    UniqueFd fd(::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
    if (!fd) continue;
    if (::connect(fd.get(), a->ai_addr, a->ai_addrlen) == 0) return fd;
    if (errno != EINPROGRESS) {
      last = errno;
      continue;
    }
    if (!wait_fd(fd.get(), POLLOUT, deadline)) {
      last = ETIMEDOUT;
      continue;
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err == 0) return fd;
    last = err;
  }
  throw Error::from_errno(fmt::format("connecting to {}:{}", ep.host, ep.port), last);
}

std::string exchange(const EtcdEndpoint& ep, TlsClientContext* tls, const std::string& request, Deadline deadline) {
  UniqueFd fd = connect_tcp(ep, deadline);
  if (ep.tls) return tls->exchange(fd.get(), ep.host, request, deadline, kMaxResponseBytes);
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_fd(fd.get(), POLLOUT, deadline)) throw Error("sending to etcd: timed out", ErrorKind::timeout);
    } else {
      throw Error::from_errno("sending to etcd", errno);
    }
  }
  std::string response;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n > 0) {
      response.append(buf, static_cast<std::size_t>(n));
      if (response.size() > kMaxResponseBytes) throw Error("etcd's answer is too large", ErrorKind::system);
    } else if (n == 0) {
      return response;  // HTTP/1.0: the body ends with the connection
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!wait_fd(fd.get(), POLLIN, deadline)) throw Error("waiting for etcd: timed out", ErrorKind::timeout);
    } else {
      throw Error::from_errno("reading from etcd", errno);
    }
  }
}

// etcd's refusal as text, whatever shape the gateway gave it ({"message": ...}, {"error":
// "..."}, or a stream's {"error": {"message": ...}}).
std::string message_of(const json& j, int status) {
  if (const auto m = j.find("message"); m != j.end() && m->is_string()) return m->get<std::string>();
  if (const auto e = j.find("error"); e != j.end()) {
    if (e->is_string()) return e->get<std::string>();
    if (e->is_object()) return message_of(*e, status);
  }
  return fmt::format("HTTP {}", status);
}

// gRPC codes a member answers with when another may serve: UNAVAILABLE (no leader, stopping),
// DEADLINE_EXCEEDED.
bool retryable(const json& j, int status) {
  if (status >= 500) return true;
  const json& e = j.contains("error") && j["error"].is_object() ? j["error"] : j;
  const auto c = e.find("code");
  return c != e.end() && c->is_number_integer() && (c->get<int>() == 14 || c->get<int>() == 4);
}

}  // namespace

EtcdEndpoint parse_etcd_endpoint(const std::string& url) {
  const bool tls = url.starts_with("https://");
  if (!tls && !url.starts_with("http://")) {
    throw Error(fmt::format("etcd endpoint {}: expected http://HOST:PORT or https://HOST:PORT", url), ErrorKind::config);
  }
  std::string rest = url.substr(tls ? 8 : 7);
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size() || rest.find('/') != std::string::npos ||
      rest.find_first_not_of("0123456789", colon + 1) != std::string::npos) {
    throw Error(fmt::format("etcd endpoint {}: expected {}://HOST:PORT", url, tls ? "https" : "http"), ErrorKind::config);
  }
  std::string host = rest.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return {host, rest.substr(colon + 1), tls};
}

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (!end.empty()) end.back() = static_cast<char>(end.back() + 1);
  return end;
}

std::pair<int, json> parse_http_json_response(std::string_view response) {
  if (!response.starts_with("HTTP/1.") || response.size() < 12) {
    throw Error("etcd: not an HTTP response", ErrorKind::system);
  }
  int status = 0;
  const auto [p, ec] = std::from_chars(response.data() + 9, response.data() + 12, status);
  if (ec != std::errc() || p != response.data() + 12) throw Error("etcd: no HTTP status", ErrorKind::system);
  const auto body = response.find("\r\n\r\n");
  if (body == std::string_view::npos) throw Error("etcd: an HTTP response without a body", ErrorKind::system);
  json j = json::parse(response.substr(body + 4), nullptr, false);
  if (j.is_discarded()) throw Error(fmt::format("etcd: HTTP {} without JSON", status), ErrorKind::system);
  return {status, std::move(j)};
}

EtcdClient::EtcdClient(std::vector<std::string> endpoints, std::chrono::milliseconds timeout, const EtcdTlsFiles& tls)
    : timeout_(timeout) {
  bool any_tls = false;
  for (const auto& e : endpoints) {
    endpoints_.push_back(parse_etcd_endpoint(e));
    any_tls = any_tls || endpoints_.back().tls;
  }
  if (endpoints_.empty()) throw Error("no etcd endpoint", ErrorKind::config);
  if (any_tls) {
    tls_ = std::make_shared<TlsClientContext>(tls);
  } else if (!tls.empty()) {
    throw Error("slurm-vm.yaml store.etcd: ca-cert, client-cert and client-key are for https:// endpoints, but "
                "every endpoint is http://",
                ErrorKind::config);
  }
}

json EtcdClient::call(const std::string& path, const json& body) {
  const std::string payload = body.dump();
  std::vector<std::string> failures;
  for (const auto& ep : endpoints_) {
    const std::string request = fmt::format(
        "POST {} HTTP/1.0\r\nHost: {}:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}", path,
        ep.host, ep.port, payload.size(), payload);
    try {
      auto [status, j] = parse_http_json_response(exchange(ep, tls_.get(), request, deadline_in(timeout_)));
      if (status == 200 && !j.contains("error")) return std::move(j);
      if (!retryable(j, status)) {
        // etcd refused the request itself: every member would say the same.
        throw Error(fmt::format("etcd {}: {}", path, message_of(j, status)), ErrorKind::config);
      }
      failures.push_back(fmt::format("{}:{}: {}", ep.host, ep.port, message_of(j, status)));
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::config) throw;
      failures.push_back(fmt::format("{}:{}: {}", ep.host, ep.port, e.what()));
    } catch (const json::exception& e) {
      failures.push_back(fmt::format("{}:{}: {}", ep.host, ep.port, e.what()));
    }
  }
  throw Error(fmt::format("no etcd endpoint answered: {}", fmt::join(failures, "; ")), ErrorKind::system);
}

std::vector<EtcdKv> EtcdClient::range_prefix(const std::string& prefix) {
  const std::string end = prefix_end(prefix);
  const json r = call("/v3/kv/range", {{"key", b64(prefix)}, {"range_end", end.empty() ? "AA==" : b64(end)}});
  std::vector<EtcdKv> out;
  for (const auto& kv : r.value("kvs", json::array())) {
    out.push_back({base64_decode(kv.value("key", "")), base64_decode(kv.value("value", "")),
                   int_field(kv, "create_revision"), int_field(kv, "mod_revision"), int_field(kv, "lease")});
  }
  return out;
}

bool EtcdClient::create(const std::string& key, const std::string& value, std::int64_t lease,
                        const std::vector<std::pair<std::string, std::string>>& also) {
  json success = json::array();
  auto put_op = [&](const std::string& k, const std::string& v) {
    json p = {{"key", b64(k)}, {"value", b64(v)}};
    if (lease != 0) p["lease"] = std::to_string(lease);
    success.push_back({{"request_put", std::move(p)}});
  };
  put_op(key, value);
  for (const auto& [k, v] : also) put_op(k, v);
  const json r = call("/v3/kv/txn",
                      {{"compare", json::array({{{"key", b64(key)}, {"target", "CREATE"}, {"result", "EQUAL"},
                                                 {"create_revision", "0"}}})},
                       {"success", std::move(success)}});
  return r.value("succeeded", false);
}

bool EtcdClient::put_if_created_at(const std::string& guard, std::int64_t created,
                                   const std::vector<std::pair<std::string, std::string>>& puts, std::int64_t lease) {
  json success = json::array();
  for (const auto& [k, v] : puts) {
    json p = {{"key", b64(k)}, {"value", b64(v)}};
    if (lease != 0) p["lease"] = std::to_string(lease);
    success.push_back({{"request_put", std::move(p)}});
  }
  const json r = call("/v3/kv/txn", {{"compare", json::array({{{"key", b64(guard)}, {"target", "CREATE"},
                                                               {"result", "EQUAL"},
                                                               {"create_revision", std::to_string(created)}}})},
                                     {"success", std::move(success)}});
  return r.value("succeeded", false);
}

bool EtcdClient::remove_if_modified_at(const std::string& key, std::int64_t modified) {
  const json r = call("/v3/kv/txn",
                      {{"compare", json::array({{{"key", b64(key)}, {"target", "MOD"}, {"result", "EQUAL"},
                                                 {"mod_revision", std::to_string(modified)}}})},
                       {"success", json::array({{{"request_delete_range", {{"key", b64(key)}}}}})}});
  return r.value("succeeded", false);
}

void EtcdClient::put(const std::string& key, const std::string& value, std::int64_t lease) {
  json p = {{"key", b64(key)}, {"value", b64(value)}};
  if (lease != 0) p["lease"] = std::to_string(lease);
  call("/v3/kv/put", p);
}

std::int64_t EtcdClient::remove(const std::string& key, bool prefix) {
  if (key.empty()) throw Error("etcd: deleting an empty key", ErrorKind::internal);
  json req = {{"key", b64(key)}};
  if (prefix) req["range_end"] = b64(prefix_end(key));
  return int_field(call("/v3/kv/deleterange", req), "deleted");
}

void EtcdClient::grant_lease(std::int64_t id, std::chrono::seconds ttl) {
  try {
    call("/v3/lease/grant", {{"ID", std::to_string(id)}, {"TTL", std::to_string(ttl.count())}});
  } catch (const Error& e) {
    if (std::string(e.what()).find("lease already exists") == std::string::npos) throw;
  }
}

bool EtcdClient::keep_alive(std::int64_t id) {
  const json r = call("/v3/lease/keepalive", {{"ID", std::to_string(id)}});
  // A lease that is gone answers TTL 0 (or no TTL).
  return int_field(r.value("result", json::object()), "TTL") > 0;
}

}  // namespace slurmvm::vfio
