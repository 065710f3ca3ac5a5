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

const std::optional<TlsFacts>& tls_of(const SessionFacts& facts, const std::string& leg) {
  return leg == "downstream" ? facts.downstream.tls : facts.upstream.tls;
}

// A self-signed certificate on the upstream side. "swaps" only with proof that another point
// on the path presents a different certificate (CERT_DIFFERS_FROM_HOP); without it, Exchange
// presenting its own default certificate (CN=<server name>) looks the same on the wire as
// an appliance terminating TLS with its own, so the line names both.
std::string self_signed_story(const SessionFacts& facts, const Finding& top,
                              const std::vector<Finding>& findings) {
  const auto& tls = tls_of(facts, top.leg);
  if (top.id != FindingId::cert_self_signed || top.leg != "upstream" || !tls ||
      tls->server_certificates.empty()) {
    return {};
  }
  const auto& leaf = tls->server_certificates.front();
  const auto& expected = tls->verification.expected_names;
  const bool wrong_name = find(findings, FindingId::cert_name_mismatch, top.leg) != nullptr;
  const std::string instead =
      wrong_name ? " instead of " + (expected.empty() ? std::string("the expected certificate")
                                                      : printable(join(expected), 200))
                 : std::string{};
  if (find(findings, FindingId::cert_differs_from_hop, top.leg) != nullptr) {
    return leg_name(top.leg) + " swaps the certificate: self-signed " +
           printable(leaf.subject, 200) + instead;
  }
  return leg_name(top.leg) + " presents the self-signed certificate " +
         printable(leaf.subject, 200) + instead +
         ": either Exchange's own default certificate (no public-CA certificate bound to SMTP) "
         "or an appliance in front of Exchange terminating TLS with its own";
}

// RFC 8446 §6.2 / RFC 5246 §7.2.2: the alerts a client sends when it rejects the server's
// certificate.
bool is_certificate_alert(const AlertFacts& alert) {
  constexpr std::array<int, 6> codes{42,   // bad_certificate
                                     43,   // unsupported_certificate
                                     44,   // certificate_revoked
                                     45,   // certificate_expired
                                     46,   // certificate_unknown
                                     48};  // unknown_ca
  return std::find(codes.begin(), codes.end(), alert.code) != codes.end();
}

// The sender aborted the handshake because of the certificate: TLS_HANDSHAKE_FAILED is the
// symptom, a certificate finding on the same leg the cause the line should lead with.
const Finding* certificate_cause(const SessionFacts& facts, const Finding& top,
                                 const std::vector<Finding>& findings) {
  const auto& tls = tls_of(facts, top.leg);
  if (top.id != FindingId::tls_handshake_failed || !tls || !tls->alert ||
      tls->alert->direction != "c>s" || !is_certificate_alert(*tls->alert)) {
    return nullptr;
  }
  constexpr std::array<FindingId, 6> causes{
      FindingId::cert_differs_from_hop, FindingId::cert_self_signed,
      FindingId::cert_name_mismatch,    FindingId::cert_expired,
      FindingId::cert_not_yet_valid,    FindingId::cert_untrusted};
  for (const FindingId id : causes) {
    if (const Finding* cause = find(findings, id, top.leg);
        cause != nullptr && cause->severity != Severity::info) {
      return cause;
    }
  }
  return nullptr;
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
  const Finding* failed_handshake = nullptr;
  if (const Finding* cause = certificate_cause(facts, *top, findings)) {
    failed_handshake = top;
    top = cause;
  }
  std::string line = self_signed_story(facts, *top, findings);
  if (line.empty()) {
    line = top->summary;
    // Name the upstream side as the hop it is, like the other hops (`hop "upstream" …`).
    if (line.rfind("upstream", 0) == 0 && top->leg == "upstream") {
      line = "hop \"upstream\"" + line.substr(8);
    }
  }
  if (failed_handshake != nullptr) {
    line += "; so the sender aborted the TLS handshake (" +
            printable(tls_of(facts, failed_handshake->leg)->alert->description, 60) + ")";
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
