#include "netsetup/nat.hpp"

#include <algorithm>
#include <memory>
#include <optional>
#include <tuple>

#include <nftables/libnftables.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include "addressing.hpp"
#include "error.hpp"
#include "log.hpp"
#include "netsetup/conntrack.hpp"
#include "netsetup/nftables_netlink.hpp"
#include "netsetup/nss_local_files.hpp"
#include "node_layout.hpp"
#include "shared_library.hpp"

namespace slurmvm::netsetup {

namespace {

// The networks, with every one that another contains left out, sorted: nft refuses
// overlapping intervals in a set ("conflicting intervals specified").
std::vector<Ipv4Cidr> without_overlaps(std::vector<Ipv4Cidr> nets) {
  std::sort(nets.begin(), nets.end(), [](const Ipv4Cidr& a, const Ipv4Cidr& b) {
    return std::tie(a.prefix, a.address) < std::tie(b.prefix, b.address);
  });
  std::vector<Ipv4Cidr> kept;
  for (const auto& n : nets) {
    const bool covered = std::any_of(kept.begin(), kept.end(), [&](const Ipv4Cidr& k) {
      const std::uint32_t mask = k.prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - k.prefix);
      return (n.address & mask) == k.address;
    });
    if (!covered) kept.push_back(n);
  }
  std::sort(kept.begin(), kept.end(), [](const Ipv4Cidr& a, const Ipv4Cidr& b) {
    return std::tie(a.address, a.prefix) < std::tie(b.address, b.prefix);
  });
  return kept;
}

// "{ a, b }" of CIDRs, or the one CIDR alone (nft takes both).
std::string cidr_set(std::vector<Ipv4Cidr> nets) {
  nets = without_overlaps(std::move(nets));
  if (nets.size() == 1) return nets.front().to_string();
  std::string out = "{ ";
  for (std::size_t i = 0; i < nets.size(); ++i) out += (i ? ", " : "") + nets[i].to_string();
  return out + " }";
}

std::string dest_match(const OutboundDest& d) {
  std::string m = "ip daddr " + d.to.to_string();
  if (d.proto.empty()) return m + " meta l4proto { tcp, udp, icmp }";
  if (d.min_port == 0) return m + " ip protocol " + d.proto;
  if (d.min_port == d.max_port) return fmt::format("{} {} dport {}", m, d.proto, d.min_port);
  return fmt::format("{} {} dport {}-{}", m, d.proto, d.min_port, d.max_port);
}

// Tunnel protocols a guest could use to reach another node's tunnel endpoint (IPIP 4,
// IPv6-in-IPv4 41, GRE 47; VXLAN and Geneve over UDP): never routed from a gateway, whatever a
// job allows. By number: nft looks names other than tcp, udp and icmp up with getprotobyname(),
// through NSS and /etc/protocols, which a minimal node may lack (`nft list` still prints the
// names).
constexpr const char* kTunnelProtocolNumbers = "{ 4, 41, 47 }";
constexpr const char* kTunnelProtocols = "meta l4proto { 4, 41, 47 }";
constexpr const char* kTunnelUdpPorts = "udp dport { 4789, 6081 }";

}  // namespace

std::string nat_table_batch(std::vector<NatRule> rules, std::size_t vm_jobs) {
  NodeTable t;
  t.reverse_nat = std::move(rules);
  t.vm_jobs = vm_jobs;
  return nat_table_batch(std::move(t));
}

std::string nat_table_batch(NodeTable t) {
  auto& rules = t.reverse_nat;
  std::sort(rules.begin(), rules.end(), [](const NatRule& a, const NatRule& b) {
    return std::tie(a.job_id, a.rank, a.host_port) < std::tie(b.job_id, b.rank, b.host_port);
  });
  std::sort(t.outbound.begin(), t.outbound.end(),
            [](const OutboundRule& a, const OutboundRule& b) { return a.job_id < b.job_id; });
  std::sort(t.dns.begin(), t.dns.end(),
            [](const DnsUpstream& a, const DnsUpstream& b) { return a.job_id < b.job_id; });
  std::sort(t.owners.begin(), t.owners.end(),
            [](const GatewayOwner& a, const GatewayOwner& b) { return std::tie(a.job_id, a.uid) < std::tie(b.job_id, b.uid); });
  t.node_networks = without_overlaps(std::move(t.node_networks));
  std::sort(t.bridged.begin(), t.bridged.end(), [](const BridgedPort& a, const BridgedPort& b) {
    return std::tie(a.job_id, a.rank, a.tap) < std::tie(b.job_id, b.rank, b.tap);
  });
  // Adding a table first makes its delete valid whether or not it exists; the batch is one
  // transaction, so other hosts' packets never see a table half-built. (`add table` rather
  // than an empty `table ... {}` block: libnftables allocates four 128 KiB hash tables for
  // each table block it parses, ~4 ms of page faults per rebuild on the test VM.)
  std::string out = fmt::format("add table ip {0}\ndelete table ip {0}\n", kNatTable);
  out += fmt::format("add table bridge {0}\ndelete table bridge {0}\n", kNatTable);
  if (!t.bridged.empty()) {
    // Before the bridge forwards anything (priority -200: ahead of br_netfilter's hooks).
    out += fmt::format("table bridge {} {{\n", kNatTable);
    out += "  chain prerouting {\n    type filter hook prerouting priority -200; policy accept;\n";
    for (const auto& b : t.bridged) {
      const std::string in = fmt::format("    iifname \"{}\"", b.tap);
      const std::string tag = fmt::format("comment \"job {} vm{}\"", b.job_id, b.rank);
      const std::string mac = format_mac(b.mac);
      out += fmt::format("{} ether saddr != {} drop {}\n", in, mac, tag);
      // nft sees the tag the kernel took off the frame: without this a tagged ARP or DHCP
      // answer would pass every check below, and on a bridge that does not filter VLANs
      // the frame would leave on any VLAN the uplink trunks.
      if (b.tagged) {
        out += fmt::format("{} ether type 8021ad drop {}\n", in, tag);
        out += fmt::format("{} vlan type {{ 8021q, 8021ad }} drop {}\n", in, tag);
        out += fmt::format("{} vlan type arp arp saddr ether != {} drop {}\n", in, mac, tag);
        out += fmt::format("{} vlan type ip udp sport {{ 67, 68 }} drop {}\n", in, tag);
        out += fmt::format("{} vlan type ip udp dport {{ 4789, 6081 }} drop {}\n", in, tag);
        out += fmt::format("{} vlan type ip ip protocol {} drop {}\n", in, kTunnelProtocolNumbers, tag);
        out += fmt::format("{} vlan type ip icmp type redirect drop {}\n", in, tag);
        out += fmt::format("{} vlan type ip6 udp sport {{ 546, 547 }} drop {}\n", in, tag);
        out += fmt::format("{} vlan type ip6 icmpv6 type {{ nd-router-advert, nd-redirect }} drop {}\n", in, tag);
      } else {
        out += fmt::format("{} ether type {{ 8021q, 8021ad }} drop {}\n", in, tag);
      }
      out += fmt::format("{} ether type arp arp saddr ether != {} drop {}\n", in, mac, tag);
      // DHCP and DHCPv6 answers, whatever port they claim to come from.
      out += fmt::format("{} meta l4proto udp udp sport {{ 67, 547 }} drop {}\n", in, tag);
      out += fmt::format("{} meta l4proto udp udp dport {{ 68, 546 }} drop {}\n", in, tag);
      out += fmt::format("{} icmpv6 type {{ nd-router-advert, nd-redirect }} drop {}\n", in, tag);
      out += fmt::format("{} icmp type redirect drop {}\n", in, tag);
      out += fmt::format("{} {} drop {}\n", in, kTunnelProtocols, tag);
      out += fmt::format("{} {} drop {}\n", in, kTunnelUdpPorts, tag);
    }
    out += "  }\n}\n";
  }
  // Between VM jobs the table only stays to keep the node from forwarding (forward_only_vms).
  if (t.vm_jobs == 0 && !t.forward_only_vms) return out;

  std::string dnat;
  for (const auto& r : rules) {
    // nft 1.0.6 rejects a '}' on the line of a rule (docs/design.md §7.7): one rule per line.
    dnat += fmt::format(
        "    fib daddr type local tcp dport {} dnat to {}:{} comment \"job {} vm{}\"\n",
        r.host_port, format_ipv4(r.vm_ip), r.vm_port, r.job_id, r.rank);
  }
  const std::string gw = fmt::format("\"{}*\"", kGatewayPortPrefix);
  const std::string any_vm = fmt::format("\"{}*\"", kVmInterfacePrefix);
  out += fmt::format("table ip {} {{\n", kNatTable);
  if (!t.node_networks.empty()) {
    out += "  set node_networks {\n    type ipv4_addr; flags interval;\n    elements = { ";
    for (std::size_t i = 0; i < t.node_networks.size(); ++i) {
      out += (i ? ", " : "") + t.node_networks[i].to_string();
    }
    out += " }\n  }\n";
  }
  out += "  chain prerouting {\n    type nat hook prerouting priority -100; policy accept;\n";
  out += dnat;
  out += "  }\n";
  out += "  chain output {\n    type nat hook output priority -100; policy accept;\n";
  out += dnat;
  out += "  }\n";
  // Outbound: masqueraded behind the node's address from unprivileged ports only (tcp and udp
  // to 1024-65535; nf_nat would otherwise keep a port below 1024 in that range), never
  // towards a slurm-vm interface; what may leave is the forward chain's to say.
  std::string masquerade, dns_fwd, out_fwd, back_fwd;
  for (const auto& o : t.outbound) {
    const std::string gw_port = fmt::format("{}{:x}", kGatewayPortPrefix, o.job_id);
    const std::string from = fmt::format("iifname \"{}\" ip saddr {}", gw_port, o.subnet.to_string());
    const std::string tag = fmt::format("comment \"job {} outbound\"", o.job_id);
    masquerade += fmt::format("    ip saddr {} oifname != {} meta l4proto {{ tcp, udp }} masquerade to :1024-65535 {}\n",
                              o.subnet.to_string(), any_vm, tag);
    masquerade += fmt::format("    ip saddr {} oifname != {} meta l4proto icmp masquerade {}\n", o.subnet.to_string(),
                              any_vm, tag);
    // Listed destinations first: they may name a node network (a proxy on the login node).
    for (const auto& d : o.allow) {
      out_fwd += fmt::format("    {} oifname != {} {} accept {}\n", from, any_vm, dest_match(d), tag);
    }
    if (o.anywhere) {
      if (!t.node_networks.empty()) out_fwd += fmt::format("    {} ip daddr @node_networks drop {}\n", from, tag);
      if (!o.deny.empty()) out_fwd += fmt::format("    {} ip daddr {} drop {}\n", from, cidr_set(o.deny), tag);
      out_fwd += fmt::format("    {} oifname != {} meta l4proto {{ tcp, udp, icmp }} accept {}\n", from, any_vm, tag);
    }
    back_fwd += fmt::format("    oifname \"{}\" ct state established,related accept {}\n", gw_port, tag);
  }
  for (const auto& d : t.dns) {
    const std::string gw_port = fmt::format("{}{:x}", kGatewayPortPrefix, d.job_id);
    const std::string tag = fmt::format("comment \"job {} dns\"", d.job_id);
    const std::string flow = fmt::format("ip saddr {} ip daddr {} meta l4proto {{ tcp, udp }} th dport 53",
                                         format_ipv4(d.server), format_ipv4(d.upstream));
    masquerade += fmt::format("    {} masquerade to :1024-65535 {}\n", flow, tag);
    // Before the outbound rules: the site's DNS server is often on a node network they deny.
    dns_fwd += fmt::format("    iifname \"{}\" {} accept {}\n", gw_port, flow, tag);
    back_fwd += fmt::format("    oifname \"{}\" ct state established,related accept {}\n", gw_port, tag);
  }
  if (!masquerade.empty()) {
    out += "  chain postrouting {\n    type nat hook postrouting priority 100; policy accept;\n";
    out += masquerade;
    out += "  }\n";
  }
  // The gateways exist for the DNAT'ed connections only: a VM may not reach the node's own
  // services (input; its DHCP and DNS server is in a jail of its own, dnsmasq_jail.hpp) nor be
  // routed anywhere else (forward), and nothing but a DNAT'ed connection is routed to it. A TAP
  // brings nothing at all: with the userspace datapath the kernel sees the VM's frames on it
  // too (tap.cpp, keep_host_stack_off).
  out += "  chain input {\n    type filter hook input priority 0; policy accept;\n";
  out += fmt::format("    iifname {} ct state established,related accept\n", gw);
  out += fmt::format("    iifname {} drop\n", any_vm);
  out += "  }\n";
  out += "  chain forward {\n    type filter hook forward priority 0; policy accept;\n";
  out += fmt::format("    iifname {} {} drop\n", any_vm, kTunnelProtocols);
  out += fmt::format("    iifname {} {} drop\n", any_vm, kTunnelUdpPorts);
  out += fmt::format("    iifname {} ct status dnat accept\n", gw);
  out += dns_fwd;
  out += out_fwd;
  out += fmt::format("    iifname {} drop\n", any_vm);
  out += fmt::format("    oifname {} ct status dnat accept\n", gw);
  out += back_fwd;
  out += fmt::format("    oifname {} drop\n", any_vm);
  if (t.forward_only_vms) out += "    drop comment \"the node forwarded nothing before slurm-vm\"\n";
  out += "  }\n";
  // Connections the node itself opens to VMs: a node user's reach only what reverse NAT
  // publishes; the job's owner and root reach its VMs directly.
  out += "  chain output_filter {\n    type filter hook output priority 0; policy accept;\n";
  // Replies only: an original-direction packet of a connection the owner opened (a UDP flow
  // another user reuses after the owner's socket closed) must pass the owner check itself.
  out += fmt::format("    oifname {} ct state established,related ct direction reply accept\n", any_vm);
  out += fmt::format("    oifname {} ct status dnat accept\n", gw);
  for (const auto& o : t.owners) {
    const std::string who = o.uid == 0 ? "0" : fmt::format("{{ 0, {} }}", o.uid);
    out += fmt::format("    oifname \"{}{:x}\" meta skuid {} accept comment \"job {} owner\"\n", kGatewayPortPrefix,
                       o.job_id, who, o.job_id);
  }
  out += fmt::format("    oifname {} drop\n", any_vm);
  out += "  }\n";
  out += "}\n";
  return out;
}

namespace {

// libnftables, opened on first use (shared_library.hpp), with the process's one context: a
// helper that rebuilds the table twice creates it and fills its cache once. Its netlink socket
// belongs to the network namespace it was made in: a call from another one (a test that moves
// between namespaces) gets a new context.
class Nftables {
 public:
  static Nftables& get() {
    static Nftables nft;
    return nft;
  }
  Nftables(const Nftables&) = delete;
  Nftables& operator=(const Nftables&) = delete;
  ~Nftables() {
    if (ctx_ != nullptr) ctx_free_(ctx_);
  }

  // Runs the batch; the error buffer's text when it fails (buffers are read, and so emptied,
  // after every run). `output`, when given, receives what the command printed (a `list`).
  std::optional<std::string> run(const std::string& batch, std::string* output = nullptr) {
    if (const ino_t here = current_netns(); here != netns_) {
      ctx_free_(ctx_);
      ctx_ = nullptr;
      ctx_ = make_context();
      netns_ = here;
    }
    // nft looks the owner rules' uids up as user names first (nss_local_files.hpp).
    const NssLocalFilesOnly local_users("passwd");
    const int rc = run_(ctx_, batch.c_str());
    const char* printed = output_(ctx_);
    if (output != nullptr) *output = printed == nullptr ? "" : printed;
    std::string why = error_(ctx_);
    if (rc == 0) return std::nullopt;
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return why.empty() ? "failed" : why;
  }

 private:
  Nftables()
      : lib_(SharedLibrary::open(SLURM_VM_LIBNFTABLES_SONAME, "rebuilding the nftables table of the node's VMs",
                                 "libnftables1 (Debian) or nftables (RPM)")),
        ctx_new_(lib_.function<decltype(::nft_ctx_new)>("nft_ctx_new")),
        ctx_free_(lib_.function<decltype(::nft_ctx_free)>("nft_ctx_free")),
        run_(lib_.function<decltype(::nft_run_cmd_from_buffer)>("nft_run_cmd_from_buffer")),
        output_(lib_.function<decltype(::nft_ctx_get_output_buffer)>("nft_ctx_get_output_buffer")),
        error_(lib_.function<decltype(::nft_ctx_get_error_buffer)>("nft_ctx_get_error_buffer")),
        buffer_output_(lib_.function<decltype(::nft_ctx_buffer_output)>("nft_ctx_buffer_output")),
        buffer_error_(lib_.function<decltype(::nft_ctx_buffer_error)>("nft_ctx_buffer_error")),
        netns_(current_netns()),
        ctx_(make_context()) {}

  nft_ctx* make_context() {
    nft_ctx* ctx = ctx_new_(NFT_CTX_DEFAULT);
    if (ctx == nullptr) throw Error("libnftables: cannot create a context", ErrorKind::system);
    // Messages into buffers, never onto the helper's stdout/stderr (slurmd's log).
    if (buffer_output_(ctx) != 0 || buffer_error_(ctx) != 0) {
      ctx_free_(ctx);
      throw Error("libnftables: cannot buffer its messages", ErrorKind::system);
    }
    return ctx;
  }

  // The calling thread's network namespace (its inode; 0 when /proc cannot say).
  static ino_t current_netns() {
    struct stat st {};
    return ::stat("/proc/thread-self/ns/net", &st) == 0 ? st.st_ino : 0;
  }

  SharedLibrary lib_;
  decltype(::nft_ctx_new)* ctx_new_;
  decltype(::nft_ctx_free)* ctx_free_;
  decltype(::nft_run_cmd_from_buffer)* run_;
  decltype(::nft_ctx_get_output_buffer)* output_;
  decltype(::nft_ctx_get_error_buffer)* error_;
  decltype(::nft_ctx_buffer_output)* buffer_output_;
  decltype(::nft_ctx_buffer_error)* buffer_error_;
  ino_t netns_;
  nft_ctx* ctx_;
};

}  // namespace

bool nat_tables_deleted(const NodeTable& t) { return t.bridged.empty() && t.vm_jobs == 0 && !t.forward_only_vms; }

void apply_nat_table(NodeTable table) {
  if (nat_tables_deleted(table)) {
    with_context(fmt::format("deleting nftables tables ip and bridge {}", kNatTable),
                 [] { delete_nft_tables(kNatTable); });
    return;
  }
  const std::vector<NatRule> rules = table.reverse_nat;
  apply_nat_batch(nat_table_batch(std::move(table)));
  // Connections the kernel still sends to a port's previous VM (conntrack.hpp). A leftover
  // entry costs one user a failed connection, not the job: warn, do not fail the helper.
  try {
    if (const auto n = forget_stale_nat_connections(rules); n > 0) {
      log_info("forgot {} connection(s) still sent to a reverse-NAT port's previous VM", n);
    }
  } catch (const Error& e) {
    log_warning("stale reverse-NAT connections not forgotten: {}", e.what());
  }
}

void apply_nat_batch(const std::string& batch) {
  with_context(fmt::format("replacing nftables table ip {}", kNatTable), [&] {
    // The kernel answers on netlink; no daemon is involved, so nothing here can wait forever.
    if (const auto why = Nftables::get().run(batch)) throw Error(fmt::format("nft: {}", *why), ErrorKind::system);
  });
}

std::string nft_list(const std::string& what) {
  std::string out;
  if (const auto why = Nftables::get().run("list " + what, &out)) {
    throw Error(fmt::format("nft list {}: {}", what, *why), ErrorKind::system);
  }
  return out;
}

}  // namespace slurmvm::netsetup
