#include "policy/tls_checks.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "proxy/printable.hpp"

namespace hopscope::policy {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  });
  return out;
}

bool has(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

// "TLSv1.3" → "TLS 1.3", "TLSv1" → "TLS 1.0"; anything else as configured.
std::string spoken_version(const std::string& version) {
  if (version == "TLSv1" || version == "TLSv1.0") {
    return "TLS 1.0";
  }
  if (version.rfind("TLSv", 0) == 0) {
    return "TLS " + version.substr(4);
  }
  return version;
}

// remedy(tls_protocol_weak) names no version: this one names the configured minimum.
std::string protocol_remedy(const std::string& minimum) {
  const std::string version = printable(spoken_version(minimum), 20);
  std::string enable = "Enable " + version;
  if (minimum == "TLSv1.2") {
    enable += " (or 1.3)";
  } else if (minimum == "TLSv1.3") {
    enable += " (SChannel has it from Windows Server 2022)";
  }
  return enable + " on both ends, the minimum set in min_tls_version (\"" + printable(minimum, 20) +
         "\"): on Windows, the SChannel Protocols registry keys and .NET "
         "SchUseStrongCrypto; on appliances, their TLS settings. Exchange Online accepts only "
         "TLS 1.2 and later.";
}

}  // namespace

std::optional<int> version_rank(std::string_view version) {
  constexpr std::array<std::string_view, 5> order{"SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2",
                                                  "TLSv1.3"};
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (order[i] == version) {
      return static_cast<int>(i);
    }
  }
  if (version == "TLSv1.0") {
    return 1;
  }
  return std::nullopt;
}

CipherGrade grade_cipher(std::string_view cipher) {
  const auto c = upper(cipher);
  // RFC 7465 (RC4), RFC 8996 era guidance, NIST SP 800-52r2 §3.3.1.
  if (has(c, "NULL") || has(c, "EXPORT") || has(c, "EXP-") || has(c, "ANON") || has(c, "ADH") ||
      has(c, "AECDH") || has(c, "RC4") || has(c, "RC2") || has(c, "DES") || has(c, "MD5") ||
      has(c, "IDEA")) {
    return CipherGrade::broken;  // "DES" also covers 3DES_EDE and DES-CBC3
  }
  // TLS 1.3 suites (RFC 8446 §B.4) always use (EC)DHE.
  const bool tls13 = c.rfind("TLS_AES_", 0) == 0 || c.rfind("TLS_CHACHA20_", 0) == 0 ||
                     c.rfind("TLS_SM4_", 0) == 0;
  const bool forward_secret = tls13 || has(c, "ECDHE") || has(c, "DHE");
  if (!forward_secret) {
    return CipherGrade::no_forward_secrecy;
  }
  const bool aead = has(c, "GCM") || has(c, "CHACHA20") || has(c, "CCM");
  return aead ? CipherGrade::strong : CipherGrade::cbc_with_forward_secrecy;
}

void check_tls_parameters(const TlsFacts& tls, const StartTlsFacts& starttls,
                          const std::string& leg, const config::PolicyConfig& policy,
                          FindingList& out) {
  // The reply TLS followed: "220" (RFC 3207 §4), or what a firewall made of it (a PIX's NOOP
  // answered 250, STARTTLS_MASKED), so that this finding never quotes a 220 that never came.
  const std::string go_ahead =
      "\"" + (starttls.reply ? std::to_string(starttls.reply->code) : std::string("220")) + "\"";
  if (starttls.handshake == "failed" || (tls.alert && tls.alert->level == "fatal")) {
    std::string evidence;
    if (tls.alert) {
      evidence = "alert " + printable(tls.alert->level, 20) + " " +
                 printable(tls.alert->description, 60) + " (" + std::to_string(tls.alert->code) +
                 ") sent " +
                 (tls.alert->direction == "c>s" ? "by the client (sender side)"
                                                : "by the server (upstream side)");
    } else {
      evidence = "handshake failed";
    }
    if (!tls.parse_error.empty()) {
      evidence += "; observer: " + printable(tls.parse_error, 200);
    }
    if (tls.sni) {
      evidence += "; SNI " + printable(*tls.sni, 200);
    }
    out.add(FindingId::tls_handshake_failed, leg,
            "the TLS handshake on " + display_leg(leg) + " failed after " + go_ahead +
                (tls.alert ? ": " + printable(tls.alert->description, 60) : std::string{}),
            evidence);
  } else if (starttls.handshake == "incomplete" && tls.seen && tls.parse_error.empty()) {
    out.add(
        FindingId::tls_handshake_failed, leg,
        "the TLS handshake on " + display_leg(leg) + " never completed",
        "handshake started after " + go_ahead + " but did not finish; last seen: " +
            (tls.version ? "ServerHello " + printable(*tls.version, 20)
                         : std::string("ClientHello only")) +
            (tls.server_certificates.empty()
                 ? std::string{}
                 : ", server certificate " + printable(tls.server_certificates[0].subject, 200)));
  }
  if (tls.version) {
    const auto negotiated = version_rank(*tls.version);
    const auto minimum = version_rank(policy.min_tls_version);
    if (negotiated && minimum && *negotiated < *minimum) {
      out.add(FindingId::tls_protocol_weak, leg,
              display_leg(leg) + " negotiated " + printable(*tls.version, 20) + ", below " +
                  printable(policy.min_tls_version, 20),
              "negotiated " + printable(*tls.version, 20) + "; min_tls_version " +
                  printable(policy.min_tls_version, 20) + "; client offered " +
                  printable(
                      [&] {
                        std::string s;
                        for (const auto& v : tls.offered_versions) {
                          s += s.empty() ? v : ", " + v;
                        }
                        return s.empty() ? std::string("(not seen)") : s;
                      }(),
                      200),
              std::nullopt, protocol_remedy(policy.min_tls_version));
    }
  }
  if (tls.cipher) {
    const auto grade = grade_cipher(*tls.cipher);
    const std::string evidence = "negotiated " + printable(tls.version.value_or("?"), 20) + " " +
                                 printable(*tls.cipher, 100);
    switch (grade) {
      case CipherGrade::broken:
        out.add(FindingId::tls_cipher_weak, leg,
                display_leg(leg) + " negotiated the weak cipher " + printable(*tls.cipher, 100),
                evidence);
        break;
      case CipherGrade::no_forward_secrecy:
        out.add(FindingId::tls_cipher_weak, leg,
                display_leg(leg) + " negotiated " + printable(*tls.cipher, 100) +
                    " without forward secrecy",
                evidence);
        break;
      case CipherGrade::cbc_with_forward_secrecy:
        // DESIGN.md §6: common on Exchange 2016, graded info only.
        out.add(FindingId::tls_cipher_weak, leg,
                display_leg(leg) + " negotiated the CBC suite " + printable(*tls.cipher, 100) +
                    " (forward secret; informational)",
                evidence, Severity::info);
        break;
      case CipherGrade::strong:
        break;
    }
  }
}

}  // namespace hopscope::policy
