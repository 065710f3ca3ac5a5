#include "policy/certificate_checks.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>

#include "policy/distinguished_name.hpp"
#include "policy/name_match.hpp"
#include "proxy/printable.hpp"

namespace hopscope::policy {
namespace {

constexpr std::int64_t seconds_per_day = 86400;

// CLIENT_CERT_MISSING when the server did not ask (remedies.cpp has the sender-side text).
constexpr std::string_view client_cert_not_requested_remedy =
    "The server answering on the upstream side never requested a client certificate, so no "
    "sender could present one. Exchange itself always requests it; a device in front of "
    "Exchange that terminates TLS (Barracuda, FortiGate deep inspection, an SMTP proxy) and "
    "does not is the one to fix: let SMTP pass it without TLS termination, so that Exchange's "
    "receive connector (TlsDomainCapabilities mail.protection.outlook.com:AcceptCloudServicesMail) "
    "validates Exchange Online's certificate itself. Without it, Exchange treats hybrid mail "
    "from Exchange Online as anonymous internet mail (no XOORG).";

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  return out;
}

bool contains_ci(std::string_view haystack, std::string_view needle) {
  return lower(haystack).find(lower(needle)) != std::string::npos;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    out += out.empty() ? "" : ", ";
    out += s;
  }
  return out;
}

std::string probe_note(const TlsFacts& tls) {
  return tls.source == "probe" ? " [chain fetched by a side probe of the same upstream]" : "";
}

bool is_trust_anchor(const std::vector<tls::CertificateFacts>& chain, std::size_t i) {
  return i > 0 && i + 1 == chain.size() && chain[i].self_signed;
}

void check_names(const TlsFacts& tls, const std::string& leg, const config::PolicyConfig& policy,
                 FindingList& out) {
  const auto& leaf = tls.server_certificates.front();
  std::optional<bool> matched = tls.verification.name_matched;
  if (!matched && !policy.expected_server_names.empty()) {
    matched = matching_name(leaf, policy.expected_server_names).has_value();
  }
  if (matched && !*matched) {
    const auto& expected = tls.verification.expected_names.empty()
                               ? policy.expected_server_names
                               : tls.verification.expected_names;
    out.add(FindingId::cert_name_mismatch, leg,
            display_leg(leg) + " presented a certificate for " +
                printable(presented_names(leaf), 200) + " instead of " +
                printable(join(expected), 200),
            "expected: " + printable(join(expected), 300) +
                "; presented: " + printable(presented_names(leaf), 300) + ", subject \"" +
                printable(leaf.subject, 300) + "\"" + probe_note(tls));
  }
  if (policy.expected_certificate.empty()) {
    return;
  }
  const auto expected = parse_exchange_certificate_name(policy.expected_certificate);
  if (!expected) {
    return;  // config validation reports an unreadable TlsCertificateName
  }
  const bool subject_ok =
      !expected->subject || dn_equal(*expected->subject, from_attributes(leaf.subject_dn));
  const bool issuer_ok =
      !expected->issuer || dn_equal(*expected->issuer, from_attributes(leaf.issuer_dn));
  if (!subject_ok || !issuer_ok) {
    out.add(FindingId::cert_name_mismatch, leg,
            display_leg(leg) + " presented " + describe_certificate(leaf) +
                ", not the certificate named in expected_certificate",
            "expected (TlsCertificateName): " + printable(policy.expected_certificate, 400) +
                "; presented: <I>" + printable(leaf.issuer, 300) + "<S>" +
                printable(leaf.subject, 300) + probe_note(tls));
  }
}

void check_pins(const TlsFacts& tls, const std::string& leg, const config::PolicyConfig& policy,
                FindingList& out) {
  const auto& chain = tls.server_certificates;
  const auto& leaf = chain.front();
  if (!policy.server_pins.empty()) {
    bool pinned = false;
    for (const auto& cert : chain) {
      for (const auto& pin : policy.server_pins) {
        const std::string_view p = pin;
        if (p.substr(0, 7) == "sha256/" && p.substr(7) == cert.spki_sha256) {
          pinned = true;
        }
      }
    }
    if (!pinned) {
      out.add(FindingId::cert_pin_mismatch, leg,
              display_leg(leg) + " presented " + describe_certificate(leaf) +
                  ", whose key is not pinned",
              "expected one of: " + printable(join(policy.server_pins), 400) +
                  "; presented leaf: sha256/" + printable(leaf.spki_sha256, 100) + probe_note(tls));
    }
  }
  if (!policy.expected_thumbprints.empty() &&
      std::find(policy.expected_thumbprints.begin(), policy.expected_thumbprints.end(),
                leaf.sha1) == policy.expected_thumbprints.end()) {
    out.add(FindingId::cert_pin_mismatch, leg,
            display_leg(leg) + " presented " + describe_certificate(leaf) +
                ", not a certificate with an expected thumbprint",
            "expected thumbprint: " + printable(join(policy.expected_thumbprints), 400) +
                "; presented thumbprint (SHA-1): " + printable(leaf.sha1, 100) + probe_note(tls));
  }
}

void check_validity(const TlsFacts& tls, const std::string& leg, const config::PolicyConfig& policy,
                    std::int64_t now, FindingList& out) {
  const auto& chain = tls.server_certificates;
  for (std::size_t i = 0; i < chain.size(); ++i) {
    const auto& c = chain[i];
    if (c.not_after_unix == 0 && c.not_before_unix == 0) {
      continue;  // unparsed
    }
    // Beyond the leaf, a date matters only to a path that uses the certificate. Servers often
    // still send an expired root or cross-sign (AddTrust External CA Root, 2020; DST Root CA
    // X3, 2021) while the chain verifies through a newer one: not a fault. A root sent at
    // the end is never checked (RFC 5280 §6.1), and a chain that verified did not need it.
    if (i > 0 &&
        (is_trust_anchor(chain, i) || (tls.verification.checked && tls.verification.trusted))) {
      continue;
    }
    const std::string which = i == 0 ? "the certificate" : "chain certificate " + std::to_string(i);
    const std::string fields = "subject \"" + printable(c.subject, 300) + "\", not_before " +
                               printable(c.not_before, 40) + ", not_after " +
                               printable(c.not_after, 40) + probe_note(tls);
    if (now < c.not_before_unix) {
      out.add(FindingId::cert_not_yet_valid, leg,
              display_leg(leg) + " presented " + which + " " + describe_certificate(c) +
                  " that is not valid before " + printable(c.not_before, 40),
              fields);
    } else if (now > c.not_after_unix) {
      out.add(FindingId::cert_expired, leg,
              display_leg(leg) + " presented " + which + " " + describe_certificate(c) +
                  " that expired " + printable(c.not_after, 40),
              fields);
    } else if (i == 0 &&
               c.not_after_unix - now <
                   static_cast<std::int64_t>(policy.expiry_warning_days) * seconds_per_day) {
      out.add(FindingId::cert_expiring_soon, leg,
              display_leg(leg) + " presented " + describe_certificate(c) + " that expires " +
                  printable(c.not_after, 40) + " (" +
                  std::to_string((c.not_after_unix - now) / seconds_per_day) + " days left)",
              fields);
    }
  }
}

void check_strength(const TlsFacts& tls, const std::string& leg, FindingList& out) {
  const auto& chain = tls.server_certificates;
  const auto& leaf = chain.front();
  const auto type = lower(leaf.key_type);
  // DESIGN.md §6: shorter than RSA 2048 / EC 256 bits (NIST SP 800-57 112-bit strength).
  const bool weak = (type == "rsa" && leaf.key_bits > 0 && leaf.key_bits < 2048) ||
                    (type == "ec" && leaf.key_bits > 0 && leaf.key_bits < 256) || type == "dsa";
  if (weak) {
    out.add(FindingId::cert_key_weak, leg,
            display_leg(leg) + " presented " + describe_certificate(leaf) + " with a weak key " +
                printable(leaf.key, 60),
            "key " + printable(leaf.key.empty() ? leaf.key_type : leaf.key, 60) + ", subject \"" +
                printable(leaf.subject, 300) + "\"" + probe_note(tls));
  }
  for (std::size_t i = 0; i < chain.size(); ++i) {
    // A trust anchor's own signature is never checked (RFC 5280 §6.1), so SHA-1 there is fine.
    if (is_trust_anchor(chain, i)) {
      continue;
    }
    const auto sig = lower(chain[i].signature);
    if (sig.find("sha1") != std::string::npos || sig.find("md5") != std::string::npos ||
        sig.find("md2") != std::string::npos) {
      out.add(FindingId::cert_signature_weak, leg,
              display_leg(leg) + " presents a chain with a " + printable(chain[i].signature, 60) +
                  " signature",
              "chain position " + std::to_string(i) + ", subject \"" +
                  printable(chain[i].subject, 300) + "\", signature " +
                  printable(chain[i].signature, 60) + probe_note(tls));
    }
  }
}

}  // namespace

std::string describe_certificate(const tls::CertificateFacts& cert) {
  if (!cert.parse_error.empty()) {
    return "an unreadable certificate";
  }
  if (cert.self_signed) {
    return "self-signed " + printable(cert.subject, 200);
  }
  return printable(cert.subject, 200) + " issued by " + printable(cert.issuer, 200);
}

std::string certificate_evidence(const tls::CertificateFacts& cert) {
  std::string san;
  for (const auto& n : cert.san_dns) {
    san += san.empty() ? "" : ", ";
    san += n;
  }
  return "subject \"" + printable(cert.subject, 300) + "\", issuer \"" +
         printable(cert.issuer, 300) + "\", SAN [" + printable(san, 300) + "], not_after " +
         printable(cert.not_after, 40) + ", sha256 " + printable(cert.sha256, 80);
}

void check_server_certificates(const TlsFacts& tls, const std::string& leg,
                               const config::PolicyConfig& policy, std::int64_t now_unix,
                               FindingList& out) {
  if (tls.server_certificates.empty() || !tls.server_certificates.front().parse_error.empty()) {
    return;
  }
  const auto& leaf = tls.server_certificates.front();
  if (leaf.self_signed) {
    out.add(
        FindingId::cert_self_signed, leg,
        display_leg(leg) + " presented a self-signed certificate " + printable(leaf.subject, 200),
        certificate_evidence(leaf) + ", self_signed true" + probe_note(tls));
  }
  check_names(tls, leg, policy, out);
  check_pins(tls, leg, policy, out);
  check_validity(tls, leg, policy, now_unix, out);
  check_strength(tls, leg, out);
  const auto& v = tls.verification;
  if (v.checked && !v.trusted) {
    // OpenSSL reports only its first error: when that error is already a finding of its own
    // (self-signed leaf, validity), CERT_UNTRUSTED would say the same thing twice.
    const bool explained =
        (leaf.self_signed && v.error_depth <= 0 && contains_ci(v.error, "self")) ||
        (contains_ci(v.error, "expired") && out.has(FindingId::cert_expired, leg)) ||
        (contains_ci(v.error, "not yet valid") && out.has(FindingId::cert_not_yet_valid, leg));
    if (!explained) {
      out.add(FindingId::cert_untrusted, leg,
              display_leg(leg) + " presented " + describe_certificate(leaf) +
                  " that does not chain to a trusted root",
              "verification error \"" + printable(v.error, 200) + "\" at depth " +
                  std::to_string(v.error_depth) + "; " + certificate_evidence(leaf) +
                  probe_note(tls));
    }
  }
}

void check_client_certificate(const TlsFacts& tls, bool chain_visible, const std::string& leg,
                              const config::PolicyConfig& policy, FindingList& out) {
  if (policy.expected_client_names.empty() || !chain_visible) {
    return;
  }
  if (tls.client_certificates.empty()) {
    const std::string evidence =
        printable(tls.version.value_or("TLS"), 20) +
        " handshake completed without a client Certificate; the server " +
        (tls.client_certificate_requested ? "asked for one (CertificateRequest)"
                                          : "did not ask for one (no CertificateRequest)") +
        "; expected: " + printable(join(policy.expected_client_names), 300);
    if (tls.client_certificate_requested) {
      out.add(FindingId::client_cert_missing, leg,
              "the sender presented no client certificate although the server asked for one",
              evidence);
      return;
    }
    // RFC 5246 §7.4.4 / RFC 8446 §4.3.2: a client sends a certificate only when asked, so the
    // sender is not at fault: the server on this handshake is (in passthrough, whatever
    // answers upstream; Exchange itself always asks).
    out.add(FindingId::client_cert_missing, "upstream",
            "upstream never asked the sender for a client certificate (no CertificateRequest), "
            "so Exchange cannot see Exchange Online's certificate",
            evidence, std::nullopt, std::string(client_cert_not_requested_remedy));
    return;
  }
  const auto& leaf = tls.client_certificates.front();
  if (!leaf.parse_error.empty()) {
    return;
  }
  if (!matching_name(leaf, policy.expected_client_names)) {
    out.add(FindingId::client_cert_name_mismatch, leg,
            "the sender's certificate is for " + printable(presented_names(leaf), 200) +
                " instead of " + printable(join(policy.expected_client_names), 200),
            "expected: " + printable(join(policy.expected_client_names), 300) +
                "; presented: " + certificate_evidence(leaf));
  }
}

}  // namespace hopscope::policy
