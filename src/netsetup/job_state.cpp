// The node's record of a job (job_state.hpp).
#include "netsetup/job_state.hpp"

#include <fmt/format.h>

#include "error.hpp"
#include "netsetup/tap.hpp"

namespace slurmvm::netsetup {

nlohmann::json to_json(const JobState& s) {
  nlohmann::json nat = nlohmann::json::array();
  for (const auto& r : s.nat) {
    nat.push_back({{"rank", r.rank},
                   {"host_port", r.host_port},
                   {"vm_ip", format_ipv4(r.vm_ip)},
                   {"vm_port", r.vm_port}});
  }
  nlohmann::json j = {{"job_id", s.job_id}, {"network_id", s.network_id}, {"nat", std::move(nat)}};
  if (s.outbound) {
    nlohmann::json allow = nlohmann::json::array();
    for (const auto& d : s.outbound->allow) {
      allow.push_back({{"to", d.to.to_string()}, {"proto", d.proto}, {"min_port", d.min_port}, {"max_port", d.max_port}});
    }
    nlohmann::json deny = nlohmann::json::array();
    for (const auto& d : s.outbound->deny) deny.push_back(d.to_string());
    j["outbound"] = {{"subnet", s.outbound->subnet.to_string()},
                     {"anywhere", s.outbound->anywhere},
                     {"allow", std::move(allow)},
                     {"deny", std::move(deny)}};
  }
  if (s.built_by != 0) j["built_by"] = s.built_by;
  if (s.owner) j["owner"] = *s.owner;
  if (!s.bridge.empty()) j["bridge"] = s.bridge;
  if (s.gateway) {
    j["gateway"] = {{"port", s.gateway->port}, {"address", fmt::format("{}/{}", format_ipv4(s.gateway->ip), s.gateway->prefix)}};
  }
  if (s.dns) j["dns"] = {{"server", format_ipv4(s.dns->server)}, {"upstream", format_ipv4(s.dns->upstream)}};
  if (!s.bridged.empty()) {
    nlohmann::json bridged = nlohmann::json::array();
    for (const auto& b : s.bridged) {
      bridged.push_back({{"rank", b.rank}, {"tap", b.tap}, {"mac", format_mac(b.mac)}, {"tagged", b.tagged}});
    }
    j["bridged"] = std::move(bridged);
  }
  return j;
}

JobState parse_job_state(std::string_view text, std::string_view source) {
  try {
    const auto j = nlohmann::json::parse(text);
    JobState s;
    s.job_id = j.at("job_id").get<std::uint32_t>();
    s.network_id = j.at("network_id").get<std::uint32_t>();
    s.built_by = j.value("built_by", 0U);
    for (const auto& r : j.at("nat")) {
      NatRule rule;
      rule.job_id = s.job_id;
      rule.rank = r.at("rank").get<std::uint32_t>();
      auto port = [&](const char* key) {
        const auto v = r.at(key).get<std::uint32_t>();
        if (v == 0 || v > 65535) throw Error(fmt::format("{} {} is not a port", key, v));
        return static_cast<std::uint16_t>(v);
      };
      rule.host_port = port("host_port");
      const auto ip = r.at("vm_ip").get<std::string>();
      const auto cidr = Ipv4Cidr::parse(ip + "/32");
      rule.vm_ip = cidr.address;
      rule.vm_port = port("vm_port");
      s.nat.push_back(rule);
    }
    if (j.contains("outbound") && j.at("outbound").is_string()) {
      // A record written before issue 11 (a job that outlives an upgrade): its subnet went
      // anywhere; it keeps going out, now from unprivileged ports and never to the node's
      // own networks.
      OutboundRule rule;
      rule.job_id = s.job_id;
      rule.subnet = Ipv4Cidr::parse(j.at("outbound").get<std::string>());
      rule.anywhere = true;
      s.outbound = std::move(rule);
    } else if (j.contains("outbound")) {
      const auto& o = j.at("outbound");
      OutboundRule rule;
      rule.job_id = s.job_id;
      rule.subnet = Ipv4Cidr::parse(o.at("subnet").get<std::string>());
      rule.anywhere = o.at("anywhere").get<bool>();
      for (const auto& d : o.at("allow")) {
        OutboundDest dest;
        dest.to = Ipv4Cidr::parse(d.at("to").get<std::string>());
        dest.proto = d.at("proto").get<std::string>();
        if (!dest.proto.empty() && dest.proto != "tcp" && dest.proto != "udp" && dest.proto != "icmp") {
          throw Error(fmt::format("outbound proto \"{}\"", dest.proto.substr(0, 8)));
        }
        dest.min_port = d.at("min_port").get<std::uint16_t>();
        dest.max_port = d.at("max_port").get<std::uint16_t>();
        rule.allow.push_back(std::move(dest));
      }
      for (const auto& d : o.at("deny")) rule.deny.push_back(Ipv4Cidr::parse(d.get<std::string>()));
      s.outbound = std::move(rule);
    }
    if (j.contains("owner")) s.owner = j.at("owner").get<std::uint32_t>();
    if (j.contains("bridge")) {
      s.bridge = j.at("bridge").get<std::string>();
      validate_ifname(s.bridge);
    }
    if (j.contains("gateway")) {
      JobState::Gateway gw;
      gw.port = j.at("gateway").at("port").get<std::string>();
      validate_ifname(gw.port);
      const auto address = j.at("gateway").at("address").get<std::string>();
      const auto slash = address.find('/');
      if (slash == std::string::npos) throw Error("gateway address without a prefix");
      gw.ip = Ipv4Cidr::parse(address.substr(0, slash) + "/32").address;
      const auto net = Ipv4Cidr::parse(fmt::format("0.0.0.0/{}", address.substr(slash + 1)));
      gw.prefix = net.prefix;
      if (gw.prefix == 0) throw Error("gateway prefix /0");
      s.gateway = gw;
    }
    if (j.contains("dns")) {
      const auto ip = [&](const char* key) {
        return Ipv4Cidr::parse(j.at("dns").at(key).get<std::string>() + "/32").address;
      };
      s.dns = DnsUpstream{s.job_id, ip("server"), ip("upstream")};
    }
    if (j.contains("bridged")) {
      for (const auto& b : j.at("bridged")) {
        BridgedPort port;
        port.job_id = s.job_id;
        port.rank = b.at("rank").get<std::uint32_t>();
        port.tap = b.at("tap").get<std::string>();
        validate_ifname(port.tap);  // it becomes nft text
        port.mac = parse_mac(b.at("mac").get<std::string>());
        port.tagged = b.value("tagged", false);
        s.bridged.push_back(std::move(port));
      }
    }
    return s;
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: not a job state file: {}", source, e.what()), ErrorKind::config);
  }
}

}  // namespace slurmvm::netsetup
