#include "policy/hop_checks.hpp"

#include <algorithm>
#include <vector>

#include "policy/certificate_checks.hpp"
#include "policy/remedies.hpp"
#include "policy/signatures.hpp"
#include "policy/smtp_checks.hpp"
#include "policy/tls_checks.hpp"
#include "proxy/printable.hpp"

namespace hopscope::policy {
namespace {

std::vector<std::string> keywords(const std::vector<std::string>& capabilities) {
  std::vector<std::string> out;
  for (const auto& c : capabilities) {
    auto k = capability_keyword(c);
    if (!k.empty() && std::find(out.begin(), out.end(), k) == out.end()) {
      out.push_back(std::move(k));
    }
  }
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    out += out.empty() ? "" : " ";
    out += s;
  }
  return out;
}

const tls::CertificateFacts* leaf_of(const std::optional<TlsFacts>& tls) {
  if (!tls || tls->server_certificates.empty() || tls->server_certificates[0].sha256.empty()) {
    return nullptr;
  }
  return &tls->server_certificates[0];
}

std::string source_of(const HopFacts& hop) {
  return "probe of " + printable(hop.address, 100) +
         (hop.probed_from.empty() ? std::string{} : " from " + printable(hop.probed_from, 100));
}

// `near_caps` lacks keywords that `far_caps` has: report them, naming ESMTP inspection when
// what is left looks like what ASA passes.
void compare_capabilities(const std::vector<std::string>& near_caps,
                          const std::vector<std::string>& far_caps, const std::string& leg,
                          const std::string& near_name, const std::string& far_name,
                          const std::string& context, FindingList& out) {
  if (near_caps.empty() || far_caps.empty()) {
    return;
  }
  const auto near_kw = keywords(near_caps);
  const auto far_kw = keywords(far_caps);
  std::vector<std::string> removed;
  std::vector<std::string> added;
  for (const auto& k : far_kw) {
    if (std::find(near_kw.begin(), near_kw.end(), k) == near_kw.end()) {
      removed.push_back(k);
    }
  }
  for (const auto& k : near_kw) {
    if (std::find(far_kw.begin(), far_kw.end(), k) == far_kw.end()) {
      added.push_back(k);
    }
  }
  if (removed.empty()) {
    return;
  }
  const auto stripped = inspection_stripped_keywords(near_caps, far_caps);
  std::string summary =
      near_name + " lacks " + printable(join(removed), 200) + " that " + far_name + " offers";
  if (!stripped.empty()) {
    summary += ": ESMTP inspection (Cisco ASA/PIX) strips them";
  }
  out.add(FindingId::capabilities_differ_from_hop, leg, summary,
          near_name + ": " + printable(join(near_kw), 400) + "; " + far_name + ": " +
              printable(join(far_kw), 400) + "; missing: " + printable(join(removed), 200) +
              (added.empty() ? std::string{}
                             : "; only at " + near_name + ": " + printable(join(added), 200)) +
              context);
}

}  // namespace

std::string hop_leg(const HopFacts& hop) {
  return "hop:" + hop.name;
}

void check_hop(const HopFacts& hop, const config::PolicyConfig& policy, std::int64_t now_unix,
               FindingList& out) {
  const auto leg = hop_leg(hop);
  if (hop.error) {
    out.add(FindingId::upstream_unreachable, leg,
            "hop \"" + printable(hop.name, 100) +
                "\" could not be probed: " + printable(*hop.error, 200),
            source_of(hop) + ": " + printable(*hop.error, 300), std::nullopt,
            remedy(FindingId::upstream_unreachable) + unreachable_port_advice(hop.address));
    return;
  }
  if (hop.banner && !hop.banner->lines.empty() && is_masked_banner(hop.banner->lines.front())) {
    out.add(FindingId::banner_masked, leg,
            display_leg(leg) + "'s banner is masked with asterisks: a firewall inspects SMTP",
            "banner \"" + printable(hop.banner->lines.front(), 300) + "\"");
  }
  if (hop.ehlo_reply) {
    if (is_ehlo_refused(*hop.ehlo_reply)) {
      out.add(FindingId::ehlo_rejected, leg,
              display_leg(leg) + " refused EHLO: only RFC 821 commands pass",
              "EHLO answered \"" +
                  printable(
                      hop.ehlo_reply->lines.empty() ? std::string{} : hop.ehlo_reply->lines.front(),
                      300) +
                  "\"");
    } else {
      check_ehlo_reply(*hop.ehlo_reply, hop.starttls, leg, policy, out);
    }
  }
  if (hop.starttls.attempted && hop.starttls.reply && hop.starttls.reply->code >= 400) {
    const auto& r = *hop.starttls.reply;
    out.add(is_unrecognised_command_reply(r.code) ? FindingId::starttls_masked
                                                  : FindingId::starttls_rejected,
            leg,
            display_leg(leg) +
                " refused STARTTLS: " + printable(r.lines.empty() ? "" : r.lines[0], 200),
            "STARTTLS answered \"" + printable(r.lines.empty() ? "" : r.lines[0], 300) + "\"");
  }
  if (hop.tls) {
    check_tls_parameters(*hop.tls, hop.starttls, leg, policy, out);
    check_server_certificates(*hop.tls, leg, policy, now_unix, out);
  }
}

void compare_adjacent_hops(const HopFacts& near, const HopFacts& far, FindingList& out) {
  if (near.error || far.error) {
    return;
  }
  const auto leg = hop_leg(near);
  const auto* a = leaf_of(near.tls);
  const auto* b = leaf_of(far.tls);
  if (a != nullptr && b != nullptr && a->sha256 != b->sha256) {
    out.add(FindingId::cert_differs_from_hop, leg,
            "hop \"" + printable(near.name, 100) +
                "\" swaps the certificate: " + describe_certificate(*a) + " instead of " +
                describe_certificate(*b) + " (hop \"" + printable(far.name, 100) + "\")",
            "hop \"" + printable(near.name, 100) + "\" (" + source_of(near) +
                "): " + certificate_evidence(*a) + "; hop \"" + printable(far.name, 100) + "\" (" +
                source_of(far) + "): " + certificate_evidence(*b));
  }
  compare_capabilities(near.capabilities, far.capabilities, leg,
                       "hop \"" + printable(near.name, 100) + "\"",
                       "hop \"" + printable(far.name, 100) + "\"",
                       "; " + source_of(near) + "; " + source_of(far), out);
}

void compare_session_with_hop(const SessionFacts& facts, const HopFacts& last, FindingList& out) {
  if (last.error) {
    return;
  }
  const std::string leg = "upstream";
  const bool same_address = !last.address.empty() && last.address == facts.upstream.address;
  const std::string context =
      "; session to " + printable(facts.upstream.address, 100) + " from " +
      printable(facts.upstream.local, 100) + "; " + source_of(last) +
      (same_address ? "; same server address: it answers differently by the connecting address "
                      "(receive connector RemoteIPRanges, SenderIPAddresses, blocklists)"
                    : std::string{});
  const auto* a = leaf_of(facts.upstream.tls);
  const auto* b = leaf_of(last.tls);
  if (a != nullptr && b != nullptr && a->sha256 != b->sha256) {
    out.add(FindingId::cert_differs_from_hop, leg,
            "hop \"upstream\" swaps the certificate: " + describe_certificate(*a) + " instead of " +
                describe_certificate(*b) + " (hop \"" + printable(last.name, 100) + "\")",
            "upstream: " + certificate_evidence(*a) + "; hop \"" + printable(last.name, 100) +
                "\": " + certificate_evidence(*b) + context);
  }
  compare_capabilities(facts.upstream.capabilities, last.capabilities, leg, "upstream",
                       "hop \"" + printable(last.name, 100) + "\"", context, out);
}

}  // namespace hopscope::policy
