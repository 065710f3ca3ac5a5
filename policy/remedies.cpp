#include "policy/remedies.hpp"

#include "proxy/printable.hpp"

namespace hopscope::policy {

// Each text names: the likely device, the command or setting that fixes it, and the error an
// administrator sees in Exchange's queue or Exchange Online's message trace.
std::string remedy(FindingId id) {
  switch (id) {
    case FindingId::starttls_not_offered:
      return "The next hop does not offer STARTTLS. If an Exchange server answers directly, check "
             "that a certificate with the SMTP service is bound (Get-ExchangeCertificate, "
             "Enable-ExchangeCertificate -Services SMTP). If STARTTLS is missing only for some "
             "sending addresses, the sender's IP may be absent from the hybrid inbound "
             "connector's SenderIPAddresses or listed on a blocklist. A firewall with ESMTP "
             "inspection also removes it (Cisco ASA: policy-map type inspect esmtp -> parameters "
             "-> allow-tls, or no inspect esmtp). Exchange Online queues such mail with "
             "\"450 4.4.317 Cannot connect to remote server\" when TLS is required; on-prem "
             "Exchange sending to Exchange Online gets \"451 5.7.3 Must issue a STARTTLS command "
             "first\".";
    case FindingId::starttls_masked:
      return "A firewall doing ESMTP inspection replaces STARTTLS with X's of the same length, "
             "or (Cisco PIX fixup) with NOOP, which the server answers 250 instead of 220, so "
             "TLS never starts. Cisco ASA: allow TLS through the inspection (policy-map type "
             "inspect esmtp <map> -> parameters -> allow-tls) or turn the inspection off for "
             "this traffic (class inspection_default -> no inspect esmtp); Cisco PIX: no fixup "
             "protocol smtp 25. Exchange Online reports this path as \"450 4.4.317 Cannot "
             "connect to remote server\"; Exchange sending to Exchange Online sees \"451 4.4.0 "
             "… 451 5.7.3 Must issue a STARTTLS command first\".";
    case FindingId::banner_masked:
      return "The banner was replaced by asterisks: a Cisco ASA (mask-banner in "
             "policy-map type inspect esmtp) or a PIX (fixup protocol smtp) inspects SMTP on this "
             "path, and the same inspection usually strips STARTTLS and Exchange's verbs. Remove "
             "mask-banner, allow-tls, or exempt the mail servers from inspect esmtp "
             "(PIX: no fixup protocol smtp 25).";
    case FindingId::ehlo_rejected:
      return "EHLO was refused and the sender fell back to HELO: a device lets only RFC 821 "
             "commands through (Cisco PIX MailGuard, which turns EHLO into XXXX). With HELO "
             "there is no STARTTLS, CHUNKING or Exchange verbs. PIX: no fixup protocol smtp 25; "
             "ASA: no inspect esmtp. Exchange Online then reports \"450 4.4.317\" or \"450 "
             "4.4.318 Connection was closed abruptly\".";
    case FindingId::starttls_rejected:
      return "STARTTLS was offered but refused. On Exchange, the certificate bound to the receive "
             "connector may be missing or invalid (Get-ReceiveConnector | fl TlsCertificateName; "
             "Get-ExchangeCertificate); the transport log shows the reason. Exchange Online "
             "reports \"450 4.4.317\".";
    case FindingId::starttls_not_used:
      return "STARTTLS was offered to the sender, which went on in clear. Either the sender's "
             "send connector does not use TLS (Exchange: Get-SendConnector | fl RequireTLS, "
             "TlsAuthLevel, TlsCertificateName), or a device between the sender and hopscope "
             "hides STARTTLS from it (ESMTP inspection: ASA allow-tls / no inspect esmtp). Place "
             "hopscope next to the sender to tell the two apart. Exchange Online refuses such "
             "mail with \"451 5.7.3 Must issue a STARTTLS command first\".";
    case FindingId::starttls_injection:
      return "Plaintext was sent after STARTTLS and before TLS began: a command injection "
             "attempt or a broken client/server (CVE-2011-0411 class, RFC 3207 §4.2). The "
             "receiving MTA must discard it (Postfix ≥ 2.8; Momentum starttls_injection_policy = "
             "reject). Find the host that sent it and update its MTA software.";
    case FindingId::sender_abandoned_after_tls:
      return "The sender completed TLS and closed without sending a command: Exchange Online "
             "does this when it rejects the certificate it was shown, and queues the mail with "
             "\"450 4.7.320 Certificate validation failed\". Compare the certificate upstream "
             "presents with the one bound in Get-HybridConfiguration (TlsCertificateName) and "
             "look for CERT_* findings on this session.";
    case FindingId::ambiguous_end_of_data:
      return "The message held <LF>.<LF> or <LF>.<CR><LF>; servers disagree where it ends (SMTP "
             "smuggling, CVE-2023-51764/51765/51766). Update the receiving MTA (Postfix: "
             "smtpd_forbid_bare_newline = yes; Exchange Online and Exchange reject bare LF) and "
             "find the sender that produces it.";
    case FindingId::tls_handshake_failed:
      return "The TLS handshake failed after \"220\". The alert names the side that gave up and "
             "why: bad_certificate / unknown_ca / certificate_expired from the sender mean it "
             "rejects the server's certificate (look for the CERT_* finding on this session; "
             "Exchange Online: \"450 4.7.320 Certificate validation failed\"); "
             "handshake_failure / protocol_version mean no common cipher or version (Exchange: "
             "\"TLS negotiation failed with error …\"; Exchange Online: \"450 4.4.317\"). A "
             "firewall doing TLS inspection (FortiGate deep inspection) can break it too: use "
             "certificate-inspection for SMTP.";
    case FindingId::tls_protocol_weak:
      return "Enable at least the TLS version set as min_tls_version on both ends: on Windows, the "
             "SChannel Protocols registry keys and .NET SchUseStrongCrypto; on appliances, their "
             "TLS settings. Exchange Online accepts only TLS 1.2 and later.";
    case FindingId::tls_cipher_weak:
      return "Restrict the cipher suites to ECDHE with AES-GCM or ChaCha20 (Windows: "
             "Get-TlsCipherSuite / the SSL Cipher Suite Order policy; appliances: their TLS "
             "profile). A CBC suite with ECDHE (common on Exchange 2016) is only informational.";
    case FindingId::cert_key_weak:
      return "Reissue the certificate with an RSA key of at least 2048 bits or an EC key of at "
             "least 256 bits, then bind it (Enable-ExchangeCertificate -Services SMTP) and update "
             "TlsCertificateName on the connectors and the hybrid configuration.";
    case FindingId::cert_signature_weak:
      return "A certificate in the chain is signed with SHA-1 or MD5: reissue it (or get the "
             "current intermediate from the CA) with SHA-256.";
    case FindingId::cert_self_signed:
      return "The certificate presented is self-signed, so Exchange Online rejects it and queues "
             "the mail with \"450 4.7.320 Certificate validation failed\". Two causes look the "
             "same from here. (1) Exchange itself presents its default self-signed certificate "
             "(subject = the server name, e.g. CN=EX01) because no public-CA certificate is bound "
             "to SMTP: Get-ExchangeCertificate, then Enable-ExchangeCertificate -Thumbprint "
             "<thumbprint> -Services SMTP with the public-CA certificate, and set the receive "
             "connector's TlsCertificateName (Set-ReceiveConnector -TlsCertificateName "
             "\"<I>issuer<S>subject\") to the one named in Get-HybridConfiguration. (2) An "
             "appliance in front of Exchange (Barracuda, FortiGate deep inspection, WatchGuard "
             "TLS inspection) terminates TLS with its own certificate: bind the Exchange "
             "certificate on the appliance's SMTP service, or let SMTP pass uninspected "
             "(FortiGate: certificate-inspection instead of deep-inspection). A hop probe of "
             "Exchange behind the appliance ([[hops]]) tells the two apart.";
    case FindingId::cert_untrusted:
      return "The chain does not verify to a trusted root: install the intermediate "
             "certificates on the server or appliance that presents it, or replace a private-CA "
             "certificate with a public-CA one for hybrid mail flow. Exchange Online queues "
             "this with \"450 4.7.320 Certificate validation failed\".";
    case FindingId::cert_name_mismatch:
      return "The certificate is not for the expected name: bind the certificate that carries it "
             "(Exchange: Enable-ExchangeCertificate -Services SMTP, then Set-ReceiveConnector "
             "-TlsCertificateName \"<I>issuer<S>subject\" matching Get-HybridConfiguration); if an "
             "appliance answers, bind that certificate on the appliance. Exchange Online queues "
             "this with \"450 4.7.320 Certificate validation failed\".";
    case FindingId::cert_pin_mismatch:
      return "The certificate is not the one expected (pin or thumbprint): it was renewed "
             "without updating the configuration, or a device replaces it. Compare with "
             "Get-ExchangeCertificate (Thumbprint) and re-bind; update server_pins / "
             "expected_thumbprints if the renewal was intended.";
    case FindingId::cert_expired:
      return "Renew the certificate, bind the new one to SMTP (Enable-ExchangeCertificate "
             "-Services SMTP) and update TlsCertificateName on the send/receive connectors and "
             "the hybrid configuration (Exchange: \"454 4.7.5 The certificate specified in "
             "TlsCertificateName of the SendConnector could not be found\"; Exchange Online: "
             "\"450 4.7.320 Certificate validation failed\").";
    case FindingId::cert_not_yet_valid:
      return "The certificate is not valid yet: check the clock of the server presenting it and "
             "of hopscope (NTP), or bind the previous certificate until the new one is valid. "
             "Exchange Online queues this with \"450 4.7.320 Certificate validation failed\".";
    case FindingId::cert_expiring_soon:
      return "Renew the certificate before it expires, then bind the new one to SMTP and update "
             "TlsCertificateName on connectors and the hybrid configuration (run the Hybrid "
             "Configuration Wizard again).";
    case FindingId::cert_differs_from_hop:
      return "Two points on the path present different certificates, so the device between them "
             "terminates TLS with its own: bind the Exchange certificate on it or let SMTP pass "
             "without TLS inspection (FortiGate certificate-inspection). If both are the same "
             "Exchange server, it picks a receive connector (and its TlsCertificateName) by the "
             "connecting address: check the connector's RemoteIPRanges. Exchange Online queues "
             "the mismatch as \"450 4.7.320 Certificate validation failed\".";
    case FindingId::capabilities_differ_from_hop:
      return "EHLO capabilities change on the way: a firewall's ESMTP inspection (ASA: no "
             "inspect esmtp, or allow-tls) or an SMTP proxy drops extensions such as STARTTLS, "
             "CHUNKING, X-ANONYMOUSTLS, XEXCH50. If only the connecting address differs, Exchange "
             "chose another receive connector, or the address is blocklisted or missing from the "
             "connector's SenderIPAddresses / RemoteIPRanges.";
    case FindingId::client_cert_missing:
      return "The server asked for a client certificate and the sender presented none. Exchange "
             "grants hybrid mail (AcceptCloudServicesMail, XOORG) only after validating Exchange "
             "Online's certificate (mail.protection.outlook.com), which Exchange Online always "
             "presents: a device between Exchange Online and this point that re-originates the "
             "connection (an SMTP proxy or a TLS-terminating appliance) drops it. Let SMTP pass "
             "that device without TLS termination, and check TlsDomainCapabilities on the receive "
             "connector.";
    case FindingId::client_cert_name_mismatch:
      return "The sender's certificate is not for an expected name: the hybrid receive connector "
             "(TlsDomainCapabilities mail.protection.outlook.com:AcceptCloudServicesMail) will not "
             "recognise it. A device re-originating the connection presents its own: bypass it "
             "for SMTP, or correct expected_client_names.";
    case FindingId::remote_tls_error:
      return "The receiving side refuses mail without TLS. Exchange shows it in the queue as "
             "\"451 4.4.0 Primary target IP address responded with: 451 5.7.3 Must issue a "
             "STARTTLS command first\". Look at the finding that explains why TLS was not used.";
    case FindingId::upstream_unreachable:
      // evaluate() and check_hop() add the address and port hopscope connected to.
      return "The next hop could not be reached: check routing, the firewall rule toward it and "
             "that the server listens on the port hopscope connects to (relay.upstream, or the "
             "hop's address). Exchange Online reports this as \"450 4.4.315 Connection timed "
             "out\" or \"450 4.4.316 Connection refused\".";
  }
  return {};
}

std::string unreachable_port_advice(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size() ||
      address.find_first_not_of("0123456789", colon + 1) != std::string::npos) {
    return {};
  }
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string port = address.substr(colon + 1);
  return " Here that is port " + port + " on " + printable(host, 100) +
         " (from this machine: nc -vz " + printable(host, 100) + " " + port + ").";
}

}  // namespace hopscope::policy
