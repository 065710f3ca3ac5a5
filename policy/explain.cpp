#include "policy/explain.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "proxy/printable.hpp"

namespace hopscope::policy {
namespace {

struct Explanation {
  std::string_view title;
  std::array<std::string_view, 3> keys;  // any one, lower-case, matches
  std::string_view meaning;
  std::string_view findings;
  std::string_view placement;
};

constexpr std::string_view inbound_placement =
    "inbound: Office 365 -> hopscope -> [appliance/firewall] -> Exchange (relay in passthrough, "
    "TLS 1.2 shows the certificates); hop probes ([[hops]]: the appliance's public address and "
    "Exchange's internal one, so CERT_DIFFERS_FROM_HOP names the device) are not built in this "
    "version";
constexpr std::string_view outbound_placement =
    "outbound: Exchange -> hopscope -> [firewall] -> Exchange Online (point the send "
    "connector's smart host or the route at hopscope); hop probes ([[hops]]: Exchange Online's "
    "MX, to compare its EHLO with what reaches Exchange) are not built in this version";

// Sources: field-facts §2.1 (Exchange Online mail flow intelligence codes), §2.2 (on-prem
// queue and protocol log strings), RFC 3207 §4, RFC 4954 §6, RFC 8689 §5.
constexpr std::array<Explanation, 13> table{{
    {"450 4.7.320 Certificate validation failed",
     {"4.7.320", "certificate validation failed", ""},
     "Exchange Online reached your server, started TLS and rejected the certificate it was "
     "shown: expired, wrong subject, or not from a public CA — typically an appliance in front "
     "of Exchange presenting its own (self-signed) certificate. The mail waits in Exchange "
     "Online's queue, then bounces.",
     "CERT_SELF_SIGNED, CERT_NAME_MISMATCH, CERT_DIFFERS_FROM_HOP, CERT_UNTRUSTED, CERT_EXPIRED, "
     "SENDER_ABANDONED_AFTER_TLS",
     inbound_placement},
    {"450 4.4.317 Cannot connect to remote server",
     {"4.4.317", "cannot connect to remote server", ""},
     "Exchange Online connected but the server did not meet the connector's requirements, "
     "most often: TLS is required and STARTTLS was not offered (stripped or masked by a "
     "firewall's ESMTP inspection, or not offered to Exchange Online's addresses).",
     "STARTTLS_NOT_OFFERED, STARTTLS_MASKED, BANNER_MASKED, EHLO_REJECTED, STARTTLS_REJECTED, "
     "TLS_HANDSHAKE_FAILED, CAPABILITIES_DIFFER_FROM_HOP",
     inbound_placement},
    {"450 4.4.318 Connection was closed abruptly",
     {"4.4.318", "closed abruptly", ""},
     "The connection dropped in the middle of the SMTP conversation: a firewall's SMTP "
     "inspection rules (Cisco ASA inspect esmtp, PIX fixup) drop or rewrite commands.",
     "EHLO_REJECTED, BANNER_MASKED, STARTTLS_MASKED, CAPABILITIES_DIFFER_FROM_HOP, "
     "TLS_HANDSHAKE_FAILED",
     inbound_placement},
    {"450 4.4.315 Connection timed out / 450 4.4.316 Connection refused",
     {"4.4.315", "4.4.316", ""},
     "Exchange Online could not open a connection: wrong smart host, server down, or a "
     "firewall blocking Microsoft 365's addresses.",
     "UPSTREAM_UNREACHABLE",
     inbound_placement},
    {"451 5.7.3 Must issue a STARTTLS command first",
     {"5.7.3", "", ""},
     "The receiver (Exchange Online) requires TLS and your server sent MAIL in clear. "
     "Exchange often did send STARTTLS, or would have: a firewall's ESMTP inspection hides "
     "STARTTLS from Exchange (\"250 XXXXXXXA\") or rewrites its STARTTLS command, so Exchange "
     "goes on without TLS.",
     "STARTTLS_MASKED, STARTTLS_NOT_OFFERED, BANNER_MASKED, STARTTLS_NOT_USED, REMOTE_TLS_ERROR",
     outbound_placement},
    {"451 4.4.0 Primary target IP address responded with …",
     {"4.4.0", "primary target ip address responded", ""},
     "Exchange's queue wrapper: the next hop answered with the reply quoted after it; the "
     "quoted reply is the real error (explained separately when hopscope knows it).",
     "REMOTE_TLS_ERROR, plus those of the quoted reply",
     outbound_placement},
    {"530 5.7.0 Must issue a STARTTLS command first",
     {"must issue a starttls command first", "", ""},
     "RFC 3207: the receiver refuses commands until STARTTLS; the sender did not use it.",
     "STARTTLS_NOT_USED, STARTTLS_MASKED, STARTTLS_NOT_OFFERED, REMOTE_TLS_ERROR",
     outbound_placement},
    {"454 4.7.0 TLS not available due to temporary reason",
     {"tls not available", "", ""},
     "The server offered STARTTLS but could not start TLS: on Exchange usually no usable "
     "certificate bound to SMTP on the receive connector.",
     "STARTTLS_REJECTED, REMOTE_TLS_ERROR",
     "in front of the server that answers it"},
    {"454 4.7.5 The certificate specified in TlsCertificateName of the SendConnector could not "
     "be found",
     {"4.7.5", "tlscertificatename", ""},
     "Exchange itself cannot find the certificate its send connector names: it was renewed and "
     "not re-bound (Set-SendConnector -TlsCertificateName \"<I>issuer<S>subject\"), or it is "
     "not enabled for SMTP. Nothing crosses the wire, so no device is to blame.",
     "none on the wire; CERT_EXPIRED / CERT_EXPIRING_SOON on a probe of Exchange show the "
     "certificate in use",
     "probe Exchange's own address (hopscope probe exchange=HOST:25) to see which certificate "
     "it presents"},
    {"TLS negotiation failed with error NoCredentials / UnknownCredentials",
     {"nocredentials", "unknowncredentials", ""},
     "Exchange could not use a certificate for TLS: none valid for the connector's FQDN, no "
     "private key, key permissions, or the certificate is not enabled for SMTP. Exchange then "
     "fails the handshake or retries (queue: \"421 4.2.1 Unable to connect\").",
     "TLS_HANDSHAKE_FAILED, CLIENT_CERT_MISSING (on the receiving side)",
     outbound_placement},
    {"421 4.4.2 Connection dropped",
     {"4.4.2", "connection dropped", ""},
     "The connection was cut, often right after the client sent its certificate: a middlebox "
     "drops the TLS session (TLS inspection, MTU or idle limits).",
     "TLS_HANDSHAKE_FAILED, SENDER_ABANDONED_AFTER_TLS, CAPABILITIES_DIFFER_FROM_HOP",
     outbound_placement},
    {"530 5.7.0 Authentication required",
     {"authentication required", "", ""},
     "RFC 4954: the server wants SMTP AUTH. This is not a TLS problem (the same 530 5.7.0 code "
     "as \"Must issue a STARTTLS command first\", but another text).",
     "none (not a TLS finding)",
     "not needed"},
    {"5.7.30 REQUIRETLS support required",
     {"5.7.30", "requiretls", ""},
     "RFC 8689: the message demanded REQUIRETLS and a hop could not honour it; a device that "
     "strips STARTTLS also strips REQUIRETLS.",
     "STARTTLS_MASKED, STARTTLS_NOT_OFFERED, CAPABILITIES_DIFFER_FROM_HOP",
     outbound_placement},
}};

std::string normalise(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const auto lc = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lc == '\t' || lc == '\r' || lc == '\n') {
      out += ' ';
    } else {
      out += lc;
    }
  }
  return out;
}

// A key ending in a digit matches only where no digit follows ("5.7.3" is not "5.7.30").
bool contains_key(const std::string& text, std::string_view key) {
  for (auto pos = text.find(key); pos != std::string::npos; pos = text.find(key, pos + 1)) {
    const auto end = pos + key.size();
    const bool digit_key = std::isdigit(static_cast<unsigned char>(key.back())) != 0;
    if (!digit_key || end >= text.size() ||
        std::isdigit(static_cast<unsigned char>(text[end])) == 0) {
      return true;
    }
  }
  return false;
}

bool matches(const Explanation& e, const std::string& text) {
  return std::any_of(e.keys.begin(), e.keys.end(),
                     [&](std::string_view k) { return !k.empty() && contains_key(text, k); });
}

}  // namespace

std::string explain(std::string_view pasted_error) {
  const auto text = normalise(pasted_error);
  std::string out = "\"" + printable(pasted_error, 500) + "\"\n";
  bool any = false;
  for (const auto& e : table) {
    if (!matches(e, text)) {
      continue;
    }
    // "530 5.7.0" with the STARTTLS text is the TLS refusal; with "authentication required"
    // it is RFC 4954's. Match on the text, never on the bare code.
    any = true;
    out += "\n";
    out += e.title;
    out += "\n  Meaning: ";
    out += e.meaning;
    out += "\n  Findings to look for: ";
    out += e.findings;
    out += "\n  Where to place hopscope: ";
    out += e.placement;
    out += "\n";
  }
  if (!any) {
    out += "\nhopscope does not know this error. It decodes: ";
    for (std::size_t i = 0; i < table.size(); ++i) {
      out += i == 0 ? "" : "; ";
      out += table[i].title;
    }
    out += ".\n";
  }
  return out;
}

}  // namespace hopscope::policy
