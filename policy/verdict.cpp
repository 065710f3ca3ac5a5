#include "policy/verdict.hpp"

#include <algorithm>
#include <array>

#include "proxy/printable.hpp"

namespace hopscope::policy {
namespace {

// Root causes before the symptoms they produce.
constexpr std::array<FindingId, 27> priority{
    FindingId::upstream_unreachable,
    FindingId::cert_differs_from_hop,
    FindingId::cert_self_signed,
    FindingId::starttls_masked,
    FindingId::ehlo_rejected,
    FindingId::starttls_not_offered,
    FindingId::starttls_rejected,
    FindingId::tls_handshake_failed,
    FindingId::starttls_injection,
    FindingId::cert_name_mismatch,
    FindingId::cert_pin_mismatch,
    FindingId::cert_expired,
    FindingId::cert_not_yet_valid,
    FindingId::cert_untrusted,
    FindingId::client_cert_name_mismatch,
    FindingId::starttls_not_used,
    FindingId::banner_masked,
    FindingId::capabilities_differ_from_hop,
    // Exchange Online hanging up after the handshake is how it rejects a certificate (it
    // queues with 450 4.7.320): the failure the admin came for, before a missing client
    // certificate, which costs hybrid attribution but not the delivery.
    FindingId::sender_abandoned_after_tls,
    FindingId::client_cert_missing,
    FindingId::ambiguous_end_of_data,
    FindingId::tls_protocol_weak,
    FindingId::tls_cipher_weak,
    FindingId::cert_key_weak,
    FindingId::cert_signature_weak,
    FindingId::cert_expiring_soon,
    FindingId::remote_tls_error,
};

std::size_t priority_of(FindingId id) {
  const auto* const it = std::find(priority.begin(), priority.end(), id);
  return static_cast<std::size_t>(it - priority.begin());
}

std::string leg_name(const std::string& leg) {
  if (leg.rfind("hop:", 0) == 0) {
    return "hop \"" + leg.substr(4) + "\"";
  }
  if (leg == "downstream") {
    return "the sender (downstream)";
  }
  return "hop \"" + leg + "\"";
}

const Finding* find(const std::vector<Finding>& findings, FindingId id, const std::string& leg) {
  for (const auto& f : findings) {
    if (f.id == id && f.leg == leg) {
      return &f;
    }
  }
  return nullptr;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    out += out.empty() ? "" : ", ";
    out += s;
  }
  return out;
}

// "hop "upstream" swaps the certificate: self-signed CN=x instead of mail.contoso.com".
std::string swap_story(const SessionFacts& facts, const Finding& top,
                       const std::vector<Finding>& findings) {
  if (top.id != FindingId::cert_self_signed ||
      find(findings, FindingId::cert_name_mismatch, top.leg) == nullptr || top.leg != "upstream" ||
      !facts.upstream.tls || facts.upstream.tls->server_certificates.empty()) {
    return {};
  }
  const auto& tls = *facts.upstream.tls;
  const auto& leaf = tls.server_certificates.front();
  const auto& expected = tls.verification.expected_names;
  return leg_name(top.leg) + " swaps the certificate: self-signed " + printable(leaf.subject, 200) +
         " instead of " +
         (expected.empty() ? std::string("the expected certificate")
                           : printable(join(expected), 200));
}

std::string clean_line(const SessionFacts& facts) {
  const auto& st = facts.upstream.starttls;
  const auto& tls = facts.downstream.tls ? facts.downstream.tls : facts.upstream.tls;
  if (st.handshake != "ok" || !facts.upstream.tls) {
    if (facts.upstream.banner || facts.upstream.ehlo_reply) {
      return "clean: no TLS on this session, and no mail was refused for want of it";
    }
    // Not "clean": a session that ended before a greeting (a banner timeout behind a
    // firewall, an unreachable upstream) says how it ended.
    std::string line =
        "nothing was exchanged: the session ended (" + std::string(to_string(facts.end.reason));
    if (facts.end.detail) {
      line += ": " + printable(*facts.end.detail, 200);
    }
    return line + ")";
  }
  const auto& up = *facts.upstream.tls;
  std::string used = "STARTTLS used, " + printable(tls->version.value_or("TLS"), 20);
  if (tls->cipher) {
    used += " " + printable(*tls->cipher, 80);
  }
  if (up.server_certificates.empty()) {
    // TLS 1.3 (or a resumed session) hides the certificate and no probe fetched it: the
    // very swap hopscope looks for may be there, so this is not called clean.
    return "no findings: " + used +
           ", certificate not visible (encrypted in TLS 1.3 or not resent on resumption; a "
           "hop probe shows it)";
  }
  std::string line = "clean: " + used;
  line += ", certificate " + printable(up.server_certificates.front().subject, 200);
  if (up.verification.checked) {
    line += up.verification.trusted ? " trusted" : " not trusted";
  } else if (!up.verification.error.empty()) {
    line += ", chain not verified";  // e.g. cut at hopscope's certificate cap (tls/verify.hpp)
  }
  if (up.source == "probe") {
    line += " (by side probe)";
  }
  return line;
}

}  // namespace

std::string verdict(const SessionFacts& facts, const std::vector<Finding>& findings) {
  if (facts.own_probe) {
    return "own probe: a hopscope hop probe, not judged";
  }
  const Finding* top = nullptr;
  std::vector<std::string> info;
  for (const auto& f : findings) {
    if (f.severity == Severity::info) {
      info.emplace_back(to_string(f.id));
      continue;
    }
    if (top == nullptr || rank(f.severity) > rank(top->severity) ||
        (rank(f.severity) == rank(top->severity) && priority_of(f.id) < priority_of(top->id))) {
      top = &f;
    }
  }
  if (top == nullptr) {
    auto line = clean_line(facts);
    if (!info.empty()) {
      line += "; info: " + join(info);
    }
    return line;
  }
  std::string line = swap_story(facts, *top, findings);
  if (line.empty()) {
    line = top->summary;
    // Name the upstream side as the hop it is, like the other hops (`hop "upstream" …`).
    if (line.rfind("upstream", 0) == 0 && top->leg == "upstream") {
      line = "hop \"upstream\"" + line.substr(8);
    }
  }
  if (top->id != FindingId::remote_tls_error) {
    if (const auto* refusal = find(findings, FindingId::remote_tls_error, "upstream")) {
      line += "; so " + refusal->summary;
    }
  }
  std::vector<std::string> others;
  for (const auto& f : findings) {
    if (&f != top && f.severity != Severity::info && f.id != FindingId::remote_tls_error) {
      const std::string id(to_string(f.id));
      if (std::find(others.begin(), others.end(), id) == others.end()) {
        others.push_back(id);
      }
    }
  }
  if (!others.empty()) {
    line += " (also: " + join(others) + ")";
  }
  return line;
}

}  // namespace hopscope::policy
