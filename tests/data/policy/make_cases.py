#!/usr/bin/env python3
"""Writes the policy golden cases: <case>.facts.json -> <case>.findings.json.

The cases are data; this script only saves typing and keeps the shared pieces (Exchange's EHLO
reply, the test certificates) identical across cases. Run it from this folder after editing;
review the diff of the JSON files like any golden-file change. Wire strings come from
/work/shared/reference/field-facts.md (sections cited per case).
"""
import json

NOW = 1780272000  # 2026-06-01T00:00:00Z
DAY = 86400

def ts(unix):
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(unix))

# field-facts §2.4 (Microsoft "test SMTP with telnet"), Exchange 2016 front end
EXCHANGE_BANNER = "220 mail.contoso.com Microsoft ESMTP MAIL Service ready at Mon, 1 Jun 2026 10:15:02 +0000"
EXCHANGE_EHLO = ["250-mail.contoso.com Hello [10.0.0.9]", "250-SIZE 37748736", "250-PIPELINING",
                 "250-DSN", "250-ENHANCEDSTATUSCODES", "250-STARTTLS", "250-X-ANONYMOUSTLS",
                 "250-AUTH NTLM", "250-X-EXPS GSSAPI NTLM", "250-8BITMIME", "250-BINARYMIME",
                 "250-CHUNKING", "250 XRDST"]
# field-facts §2.4: EOP's own EHLO
EXO_BANNER = "220 DB5EUR03FT012.mail.protection.outlook.com Microsoft ESMTP MAIL Service ready at Mon, 1 Jun 2026 10:15:02 +0000"
EXO_EHLO = ["250-DB5EUR03FT012.mail.protection.outlook.com Hello [203.0.113.25]", "250-SIZE 157286400",
            "250-PIPELINING", "250-DSN", "250-ENHANCEDSTATUSCODES", "250-STARTTLS", "250-8BITMIME",
            "250-BINARYMIME", "250 CHUNKING"]
EXO_EHLO_NO_STARTTLS = [l for l in EXO_EHLO if "STARTTLS" not in l]
# field-facts §1.1: ASA inspect esmtp, default map (mask-banner, no allow-tls, others masked)
ASA_BANNER = "220 " + "*" * 60
ASA_EHLO = ["250-DB5EUR03FT012.mail.protection.outlook.com Hello [203.0.113.25]", "250-SIZE 157286400",
            "250-8BITMIME", "250 XXXXXXXA"]
# field-facts §1.2: PIX MailGuard banner
PIX_BANNER = "220 *********0***************************************************************** ************2*************"

def cert(subject, issuer=None, san=(), nb=NOW - 150 * DAY, na=NOW + 200 * DAY, self_signed=False,
         sha="AA", key_type="RSA", key_bits=2048, signature="sha256WithRSAEncryption", **extra):
    c = {"subject": subject, "issuer": issuer or subject, "san_dns": list(san),
         "not_before": ts(nb), "not_after": ts(na), "not_before_unix": nb, "not_after_unix": na,
         "sha256": sha * 32, "sha1": (sha * 20)[:40], "spki_sha256": "spki-" + sha + "=",
         "key_type": key_type, "key_bits": key_bits, "signature": signature,
         "self_signed": self_signed}
    c.update(extra)
    return c

EXCHANGE_CERT = cert("CN=mail.contoso.com", "CN=R3, O=Let's Encrypt, C=US",
                     ["mail.contoso.com", "autodiscover.contoso.com"], sha="E1")
R3 = cert("CN=R3, O=Let's Encrypt, C=US", "CN=ISRG Root X1, O=Internet Security Research Group, C=US",
          sha="33", is_ca=True)
BARRACUDA_CERT = cert("CN=barracuda.local", san=[], self_signed=True, sha="BA")
EXO_CLIENT_CERT = cert("CN=mail.protection.outlook.com, O=Microsoft Corporation, L=Redmond, ST=Washington, C=US",
                       "CN=DigiCert Cloud Services CA-1, O=DigiCert Inc, C=US",
                       ["*.mail.protection.outlook.com", "mail.protection.outlook.com",
                        "*.mail.eo.outlook.com", "outlook.com"], sha="C0")

POLICY = {"expected_server_names": ["mail.contoso.com"],
          "expected_client_names": ["mail.protection.outlook.com"]}

def trusted(matched=True):
    return {"checked": True, "trusted": True, "error": "", "error_depth": -1,
            "name_matched": matched, "matched_name": "mail.contoso.com" if matched else None,
            "expected_names": ["mail.contoso.com"]}

def tls12(chain, cipher="TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", verification=None, client=None,
          app=12, **extra):
    t = {"version": "TLSv1.2", "cipher": cipher, "sni": "mail.contoso.com",
         "offered_versions": ["TLSv1.3", "TLSv1.2"], "client_certificate_requested": True,
         "server_certificates": chain, "client_certificates": client if client is not None else [EXO_CLIENT_CERT],
         "verification": verification or trusted(), "client_app_records": app,
         "client_app_bytes": app * 60, "server_app_records": app, "server_app_bytes": app * 80}
    t.update(extra)
    return t

def inbound_tls_transcript():
    """EXO -> on-prem: banner, EHLO, STARTTLS accepted, then TLS."""
    return [["s>c", EXCHANGE_BANNER], ["c>s", "EHLO DB5EUR03FT012.mail.protection.outlook.com"]] + \
           [["s>c", l] for l in EXCHANGE_EHLO] + \
           [["c>s", "STARTTLS"], ["s>c", "220 2.0.0 SMTP server ready"],
            ["tls", "STARTTLS accepted: TLS bytes are spliced from here"]]

def clear_transcript(banner, ehlo_lines, client="EHLO mail.contoso.com", then=()):
    return [["s>c", banner], ["c>s", client]] + [["s>c", l] for l in ehlo_lines] + list(then)

def finding(id, severity, leg, evidence=""):
    f = {"id": id, "severity": severity, "leg": leg}
    if evidence:
        f["evidence"] = evidence
    return f

CASES = {}

def case(name, facts, findings, verdict=None, note=""):
    CASES[name] = (dict(facts, now=NOW, note=note), {"findings": findings, "verdict": verdict})

OK_HANDSHAKE = {"offered": True, "attempted": True, "handshake": "ok"}

# --- Field report 1 (background/000): Barracuda swaps in a self-signed certificate inbound.
case("barracuda_swap_inbound", {
    "policy": POLICY,
    "session": {"transcript": inbound_tls_transcript(),
                "downstream": {"closed_first": True},
                "upstream": {"address": "203.0.113.10:25", "starttls": OK_HANDSHAKE,
                             "tls": tls12([BARRACUDA_CERT], verification={
                                 "checked": True, "trusted": False, "error": "self-signed certificate",
                                 "error_depth": 0, "name_matched": False,
                                 "expected_names": ["mail.contoso.com"]}, app=0)},
                "end": {"reason": "client_closed"}}},
    [finding("CERT_SELF_SIGNED", "critical", "upstream", "CN=barracuda.local"),
     finding("CERT_NAME_MISMATCH", "critical", "upstream", "expected: mail.contoso.com"),
     dict(finding("SENDER_ABANDONED_AFTER_TLS", "warning", "downstream", "records from the sender: 0"),
          remedy="This session shows CERT_SELF_SIGNED, CERT_NAME_MISMATCH")],
    'hop "upstream" swaps the certificate: self-signed CN=barracuda.local instead of mail.contoso.com',
    "Office 365 -> hopscope -> Barracuda -> Exchange; Exchange Online rejects the certificate "
    "and leaves (450 4.7.320 in its queue)")

case("barracuda_swap_with_hops", {
    "policy": POLICY,
    "session": {"transcript": inbound_tls_transcript(),
                "upstream": {"address": "203.0.113.10:25", "starttls": OK_HANDSHAKE,
                             "tls": tls12([BARRACUDA_CERT], verification={
                                 "checked": True, "trusted": False, "error": "self-signed certificate",
                                 "error_depth": 0, "name_matched": False,
                                 "expected_names": ["mail.contoso.com"]})}},
    "hops": [{"name": "exchange", "address": "10.0.0.5:25", "probed_from": "10.0.0.9",
              "banner": [EXCHANGE_BANNER], "ehlo_reply": EXCHANGE_EHLO,
              "starttls": OK_HANDSHAKE, "tls": tls12([EXCHANGE_CERT, R3])}]},
    [finding("CERT_DIFFERS_FROM_HOP", "critical", "upstream", "CN=mail.contoso.com"),
     finding("CERT_SELF_SIGNED", "critical", "upstream"),
     finding("CERT_NAME_MISMATCH", "critical", "upstream")],
    'hop "upstream" swaps the certificate: self-signed CN=barracuda.local instead of CN=mail.contoso.com',
    "the same swap, with Exchange probed as the last hop: its leaf differs from the session's")

# --- Field report 2 (background/004): ESMTP inspection on the outbound path. Exchange sends in
# clear because the firewall masks STARTTLS; Exchange Online answers 451 5.7.3.
case("asa_outbound_451", {
    "policy": POLICY,
    "session": {"transcript": clear_transcript(ASA_BANNER, ASA_EHLO, then=[
        ["c>s", "MAIL FROM:<chris@contoso.com> SIZE=2048"],
        ["s>c", "451 5.7.3 Must issue a STARTTLS command first"],
        ["c>s", "QUIT"], ["s>c", "221 2.0.0 Service closing transmission channel"]]),
                "upstream": {"address": "203.0.113.25:25"}}},
    [finding("STARTTLS_MASKED", "critical", "upstream", "250 XXXXXXXA"),
     finding("BANNER_MASKED", "warning", "upstream", "220 ****"),
     dict(finding("REMOTE_TLS_ERROR", "warning", "upstream", "451 5.7.3 Must issue a STARTTLS command first"),
          remedy="explained by STARTTLS_MASKED")],
    "masks STARTTLS in its EHLO reply (\"250 XXXXXXXA\")",
    "Exchange -> hopscope -> ASA -> Exchange Online (field-facts §1.1, §2.2)")

case("asa_behind_firewall_not_used", {
    "policy": POLICY,
    "session": {"transcript": clear_transcript(EXO_BANNER, EXO_EHLO, then=[
        ["c>s", "MAIL FROM:<chris@contoso.com> SIZE=2048"],
        ["s>c", "451 5.7.3 Must issue a STARTTLS command first"],
        ["c>s", "QUIT"], ["s>c", "221 2.0.0 Service closing transmission channel"]]),
                "upstream": {"address": "203.0.113.25:25"}}},
    [finding("STARTTLS_NOT_USED", "critical", "downstream", "MAIL FROM:<chris@contoso.com>"),
     dict(finding("REMOTE_TLS_ERROR", "warning", "upstream", "451 5.7.3"),
             remedy="explained by STARTTLS_NOT_USED")],
    "sent MAIL in clear",
    "Exchange -> ASA -> hopscope -> Exchange Online: hopscope relays STARTTLS, the firewall "
    "behind it hides it from Exchange")

case("starttls_absent_one_path", {
    "policy": POLICY,
    "session": {"transcript": clear_transcript(EXO_BANNER, EXO_EHLO_NO_STARTTLS, then=[
        ["c>s", "MAIL FROM:<chris@contoso.com>"],
        ["s>c", "451 5.7.3 Must issue a STARTTLS command first"]]),
                "upstream": {"address": "203.0.113.25:25", "local": "198.51.100.7:41000"}},
    "hops": [{"name": "exo", "address": "203.0.113.25:25", "probed_from": "198.51.100.8",
              "banner": [EXO_BANNER], "ehlo_reply": EXO_EHLO, "starttls": OK_HANDSHAKE,
              "tls": tls12([EXO_CLIENT_CERT], verification={"checked": True, "trusted": True})}]},
    [finding("STARTTLS_NOT_OFFERED", "critical", "upstream", "250 CHUNKING"),
     finding("CAPABILITIES_DIFFER_FROM_HOP", "warning", "upstream", "same server address"),
     finding("REMOTE_TLS_ERROR", "warning", "upstream", "451 5.7.3")],
    "hop \"upstream\" does not offer STARTTLS: the server does not, or a device on the way strips it",
    "the sender's address is not in the connector / on a blocklist: STARTTLS missing for this "
    "source only (report 2)")

case("asa_starttls_command_rewritten", {
    "policy": POLICY,
    "session": {"transcript": clear_transcript(EXCHANGE_BANNER, EXCHANGE_EHLO, then=[
        ["c>s", "STARTTLS"], ["s>c", "500 5.3.3 Unrecognized command 'XXXXXXXX'"],
        ["c>s", "QUIT"], ["s>c", "221 2.0.0 Service closing transmission channel"]])}},
    [finding("STARTTLS_MASKED", "critical", "upstream", "500 5.3.3 Unrecognized command")],
    "answered as an unknown command",
    "STARTTLS offered, the sender's STARTTLS rewritten to X's by a firewall upstream (TAC 113423)")

case("asa_masked_ehlo_and_command", {
    "policy": POLICY,
    "session": {"transcript": clear_transcript(ASA_BANNER, ASA_EHLO, "EHLO esa.example.com", then=[
        ["c>s", "STARTTLS"], ["s>c", "500 #5.5.1 command not recognized"],
        ["c>s", "QUIT"], ["s>c", "221 2.0.0 Service closing transmission channel"]])}},
    [finding("STARTTLS_MASKED", "critical", "upstream", "500 #5.5.1 command not recognized"),
     finding("BANNER_MASKED", "warning", "upstream")],
    "masks STARTTLS",
    "Cisco ESA tech note 118550 verbatim")

case("asa_command_masked_before_hopscope", {
    "policy": POLICY,
    "session": {"transcript": clear_transcript(EXCHANGE_BANNER, EXCHANGE_EHLO, then=[
        ["c>s", "XXXXXXXX"], ["s>c", "500 5.3.3 Unrecognized command 'XXXXXXXX'"],
        ["c>s", "QUIT"], ["s>c", "221 2.0.0 Service closing transmission channel"]])}},
    [finding("STARTTLS_MASKED", "critical", "downstream", "XXXXXXXX")],
    "reached hopscope as X's",
    "sender -> ASA -> hopscope -> Exchange: the STARTTLS command arrives as X's")

case("pix_mailguard_helo_fallback", {
    "policy": POLICY,
    "session": {"transcript": [["s>c", PIX_BANNER], ["c>s", "EHLO mail.contoso.com"],
                               ["s>c", "500 Unrecognized command"], ["c>s", "HELO mail.contoso.com"],
                               ["s>c", "250 mail1.fabrikam.com Hello [172.16.0.5]"],
                               ["c>s", "QUIT"], ["s>c", "221 2.0.0 Service closing transmission channel"]]}},
    [finding("EHLO_REJECTED", "critical", "upstream", "HELO mail.contoso.com"),
     finding("BANNER_MASKED", "warning", "upstream", "*********0***")],
    "fell back to HELO",
    "AppRiver KB a238 (field-facts §1.2)")

case("starttls_rejected_454", {
    "policy": POLICY,
    "session": {"transcript": clear_transcript(EXCHANGE_BANNER, EXCHANGE_EHLO, then=[
        ["c>s", "STARTTLS"], ["s>c", "454 4.7.0 TLS not available due to temporary reason"],
        ["c>s", "MAIL FROM:<chris@contoso.com> SIZE=251 BODY=8BITMIME"], ["s>c", "250 2.1.0 Sender OK"],
        ["c>s", "QUIT"], ["s>c", "221 2.0.0 Service closing transmission channel"]])}},
    [finding("STARTTLS_REJECTED", "critical", "upstream", "454 4.7.0 TLS not available")],
    "refused it", "Exchange without a usable certificate (RFC 3207 §4 reply)")

case("starttls_injection", {
    "policy": POLICY,
    "session": {"transcript": inbound_tls_transcript(),
                "upstream": {"starttls": dict(OK_HANDSHAKE, client_plaintext_after_starttls="RSET\r\n",
                                              server_plaintext_after_220="250 OK\r\n"),
                             "tls": tls12([EXCHANGE_CERT, R3])}}},
    [finding("STARTTLS_INJECTION", "critical", "downstream", "RSET\\x0D\\x0A"),
     finding("STARTTLS_INJECTION", "critical", "upstream", "250 OK")],
    None, "CVE-2011-0411 class, both directions")

case("ambiguous_end_of_data", {
    "policy": dict(POLICY, require_starttls=False),
    "session": {"transcript": clear_transcript(EXCHANGE_BANNER, [l for l in EXCHANGE_EHLO if "STARTTLS" not in l], then=[
        ["c>s", "MAIL FROM:<a@contoso.com>"], ["s>c", "250 2.1.0 Sender OK"],
        ["c>s", "RCPT TO:<b@contoso.com>"], ["s>c", "250 2.1.5 Recipient OK"],
        ["c>s", "DATA"], ["s>c", "354 Start mail input; end with <CRLF>.<CRLF>"], ["c>s", 300],
        ["s>c", "250 2.6.0 Queued mail for delivery"]]),
                "messages": [{"mail_from": "<a@contoso.com>", "ambiguous_end_of_data": True,
                              "ambiguous_evidence": "text\n.\nMAIL FROM:<evil@x>"}]}},
    [finding("AMBIGUOUS_END_OF_DATA", "warning", "downstream", "\\x0A.\\x0AMAIL FROM")],
    "bare-LF end-of-data", "SMTP smuggling (CVE-2023-51764 class); TLS not required here")

def tls_session(tls, policy=POLICY, **session):
    s = {"transcript": inbound_tls_transcript(),
         "upstream": {"starttls": dict(OK_HANDSHAKE, **session.pop("starttls", {})), "tls": tls}}
    s.update(session)
    return {"policy": policy, "session": s}

case("tls_handshake_failed_alert",
     tls_session(tls12([EXCHANGE_CERT, R3], client=[], app=0,
                       alert={"direction": "c>s", "level": "fatal", "description": "bad_certificate", "code": 42}),
                 starttls={"handshake": "failed"}),
     [finding("TLS_HANDSHAKE_FAILED", "critical", "upstream", "bad_certificate (42) sent by the client")],
     "failed after", "the sender refuses the certificate with an alert in clear (TLS 1.2)")

case("tls_weak_protocol_and_cipher",
     tls_session(dict(tls12([EXCHANGE_CERT, R3], cipher="TLS_RSA_WITH_3DES_EDE_CBC_SHA"), version="TLSv1")),
     [finding("TLS_PROTOCOL_WEAK", "warning", "upstream", "negotiated TLSv1"),
      finding("TLS_CIPHER_WEAK", "warning", "upstream", "TLS_RSA_WITH_3DES_EDE_CBC_SHA")],
     None, "an old appliance")

case("tls_cipher_without_forward_secrecy",
     tls_session(tls12([EXCHANGE_CERT, R3], cipher="TLS_RSA_WITH_AES_256_GCM_SHA384")),
     [finding("TLS_CIPHER_WEAK", "warning", "upstream", "TLS_RSA_WITH_AES_256_GCM_SHA384")],
     "without forward secrecy", "static RSA key exchange")

ROOT_SHA1 = cert("CN=Old Root, O=Example, C=US", self_signed=True, signature="sha1WithRSAEncryption",
                 sha="0F", is_ca=True)
case("cert_key_and_signature_weak",
     tls_session(tls12([cert("CN=mail.contoso.com", "CN=Old Issuing CA, O=Example, C=US", ["mail.contoso.com"],
                             key_bits=1024, signature="sha1WithRSAEncryption", sha="B1"),
                        cert("CN=Old Issuing CA, O=Example, C=US", "CN=Old Root, O=Example, C=US", sha="B2",
                             is_ca=True),
                        ROOT_SHA1])),
     [finding("CERT_KEY_WEAK", "warning", "upstream", "RSA 1024"),
      finding("CERT_SIGNATURE_WEAK", "warning", "upstream", "chain position 0")],
     None, "a SHA-1 root (the trust anchor) is not flagged, the SHA-1 leaf is")

case("cert_untrusted",
     tls_session(tls12([cert("CN=mail.contoso.com", "CN=Contoso Issuing CA", ["mail.contoso.com"], sha="C1")],
                       verification=dict(trusted(), trusted=False,
                                         error="unable to get local issuer certificate", error_depth=0))),
     [finding("CERT_UNTRUSTED", "critical", "upstream", "unable to get local issuer certificate")],
     None, "a private CA, or the intermediate not installed")

case("cert_pin_and_thumbprint_mismatch",
     tls_session(tls12([EXCHANGE_CERT, R3]),
                 policy=dict(POLICY, server_pins=["sha256/pinned-key="],
                             expected_thumbprints=["0123456789ABCDEF0123456789ABCDEF01234567"])),
     [finding("CERT_PIN_MISMATCH", "critical", "upstream",
              "presented thumbprint (SHA-1): E1E1E1E1E1E1E1E1E1E1E1E1E1E1E1E1E1E1E1E1")],
     None, "renewed certificate or a swap: pin and Get-ExchangeCertificate thumbprint both differ")

case("cert_expired",
     tls_session(tls12([cert("CN=mail.contoso.com", "CN=R3, O=Let's Encrypt, C=US", ["mail.contoso.com"],
                             nb=NOW - 400 * DAY, na=NOW - 10 * DAY, sha="D1"), R3],
                       verification=dict(trusted(), trusted=False, error="certificate has expired",
                                         error_depth=0))),
     [finding("CERT_EXPIRED", "critical", "upstream", "not_after 2026-05-22T00:00:00Z")],
     None, "OpenSSL's expiry error is not repeated as CERT_UNTRUSTED")

case("cert_not_yet_valid",
     tls_session(tls12([cert("CN=mail.contoso.com", "CN=R3, O=Let's Encrypt, C=US", ["mail.contoso.com"],
                             nb=NOW + 5 * DAY, na=NOW + 90 * DAY, sha="D2"), R3],
                       verification=dict(trusted(), trusted=False, error="certificate is not yet valid",
                                         error_depth=0))),
     [finding("CERT_NOT_YET_VALID", "critical", "upstream", "not_before 2026-06-06T00:00:00Z")],
     None, "a clock problem or a certificate bound too early")

case("cert_expiring_soon",
     tls_session(tls12([cert("CN=mail.contoso.com", "CN=R3, O=Let's Encrypt, C=US", ["mail.contoso.com"],
                             nb=NOW - 80 * DAY, na=NOW + 10 * DAY, sha="D3"), R3])),
     [finding("CERT_EXPIRING_SOON", "warning", "upstream", "not_after 2026-06-11T00:00:00Z")],
     "10 days left", "expiry_warning_days = 30")

EXPECTED_TLSCERTNAME = "<I>CN=R3, O=Let's Encrypt, C=US<S>CN=mail.contoso.com, O=\"Contoso, Inc.\", S=Washington, C=US"
CONTOSO_CERT = cert("CN=mail.contoso.com", "CN=R3, O=Let's Encrypt, C=US", ["mail.contoso.com"], sha="D4",
                    subject_dn=[["C", "US"], ["ST", "Washington"], ["O", "Contoso, Inc."], ["CN", "mail.contoso.com"]])
case("cert_tlscertificatename_mismatch",
     tls_session(tls12([cert("CN=mail.contoso.com", "CN=E5, O=Let's Encrypt, C=US", ["mail.contoso.com"], sha="D5",
                             subject_dn=[["C", "US"], ["ST", "Washington"], ["O", "Contoso, Inc."],
                                         ["CN", "mail.contoso.com"]]), R3]),
                 policy=dict(POLICY, expected_certificate=EXPECTED_TLSCERTNAME)),
     [finding("CERT_NAME_MISMATCH", "critical", "upstream", "presented: <I>CN=E5, O=Let's Encrypt, C=US<S>")],
     None, "Exchange's TlsCertificateName pasted; the issuer differs (renewed by another intermediate)")

case("clean_tlscertificatename_windows_spelling",
     tls_session(tls12([CONTOSO_CERT, R3]), policy=dict(POLICY, expected_certificate=EXPECTED_TLSCERTNAME)),
     [], "clean: STARTTLS used, TLSv1.2 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, certificate CN=mail.contoso.com trusted",
     "S= and a quoted O=\"Contoso, Inc.\" equal OpenSSL's ST= and O=Contoso, Inc.")

case("client_cert_missing",
     tls_session(tls12([EXCHANGE_CERT, R3], client=[])),
     [finding("CLIENT_CERT_MISSING", "warning", "downstream", "asked for one")],
     None, "hybrid: Exchange Online's certificate is needed for AcceptCloudServicesMail")

case("client_cert_name_mismatch",
     tls_session(tls12([EXCHANGE_CERT, R3], client=[cert("CN=relay.fabrikam.com", "CN=Fabrikam CA",
                                                         ["relay.fabrikam.com"], sha="F1")])),
     [finding("CLIENT_CERT_NAME_MISMATCH", "critical", "downstream", "SAN [relay.fabrikam.com]")],
     None, "a device re-originates the connection with its own certificate")

case("client_cert_not_visible_tls13",
     tls_session(dict(tls12([EXCHANGE_CERT, R3], client=[]), version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384",
                      source="probe")),
     [], "clean: STARTTLS used, TLSv1.3", "TLS 1.3 hides the client chain: no CLIENT_CERT_MISSING")

case("tls13_certificate_not_visible",
     tls_session(dict(tls12([], client=[], verification={"checked": False}), version="TLSv1.3",
                      cipher="TLS_AES_256_GCM_SHA384")),
     [], "no findings: STARTTLS used, TLSv1.3 TLS_AES_256_GCM_SHA384, certificate not visible",
     "TLS 1.3 encrypts the certificate and no probe fetched it: nothing to judge it by, so not \"clean\"")

case("upstream_unreachable", {
    "policy": POLICY,
    "session": {"transcript": [], "upstream": {"address": "10.0.0.5:25", "connect_error": "Connection refused"},
                "end": {"reason": "upstream_unreachable"}}},
    [finding("UPSTREAM_UNREACHABLE", "critical", "upstream", "Connection refused")],
    "could not be reached", "")

case("sender_abandoned_tls13",
     tls_session(dict(tls12([EXCHANGE_CERT, R3], client=[], app=1), version="TLSv1.3",
                      cipher="TLS_AES_256_GCM_SHA384", source="probe"),
                 downstream={"closed_first": True}, end={"reason": "client_closed"}),
     [finding("SENDER_ABANDONED_AFTER_TLS", "warning", "downstream", "records from the sender: 1")],
     "closed without a command", "TLS 1.3: one record after the Finished is still 'no command'")

# --- Clean sessions: nothing above info.
case("clean_exchange2016_hybrid_tls12_cbc",
     tls_session(tls12([EXCHANGE_CERT, R3], cipher="TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384")),
     [finding("TLS_CIPHER_WEAK", "info", "upstream", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384")],
     "clean: STARTTLS used, TLSv1.2 TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384, certificate CN=mail.contoso.com trusted; info: TLS_CIPHER_WEAK",
     "healthy Exchange 2016 hybrid: forward-secret CBC suite is informational only")

case("clean_tls13_end_to_end",
     tls_session(dict(tls12([EXCHANGE_CERT, R3], client=[], app=9), version="TLSv1.3",
                      cipher="TLS_AES_256_GCM_SHA384", source="probe")),
     [], "clean: STARTTLS used, TLSv1.3 TLS_AES_256_GCM_SHA384, certificate CN=mail.contoso.com trusted (by side probe)",
     "TLS 1.3: the chain comes from a side probe")

case("clean_bare_530_authentication_required", {
    "policy": dict(POLICY, require_starttls=False),
    "session": {"transcript": clear_transcript(EXCHANGE_BANNER, [l for l in EXCHANGE_EHLO if "STARTTLS" not in l], then=[
        ["c>s", "MAIL FROM:<a@contoso.com>"], ["s>c", "530 5.7.0 Authentication required"],
        ["c>s", "QUIT"], ["s>c", "221 2.0.0 Service closing transmission channel"]])}},
    [], "clean: no TLS", "RFC 4954's 530 5.7.0 is not REMOTE_TLS_ERROR")

case("own_probe_not_judged", {
    "policy": POLICY,
    "session": {"own_probe": True, "transcript": clear_transcript(ASA_BANNER, ASA_EHLO)}},
    [], "own probe", "hopscope's own hop probe passing through the relay")

case("severity_override", {
    "policy": dict(POLICY, severity={"STARTTLS_NOT_USED": "warning", "REMOTE_TLS_ERROR": "info"}),
    "session": {"transcript": clear_transcript(EXO_BANNER, EXO_EHLO, then=[
        ["c>s", "MAIL FROM:<chris@contoso.com>"],
        ["s>c", "530 5.7.0 Must issue a STARTTLS command first"]])}},
    [finding("STARTTLS_NOT_USED", "warning", "downstream"),
     finding("REMOTE_TLS_ERROR", "info", "upstream", "530 5.7.0 Must issue a STARTTLS command first")],
    "STARTTLS was offered to the sender", "[policy.severity] overrides")

# --- Hop probe rounds (hops/ documents): evaluate_hops, no session.
case("hops_certificate_swapped_between_hops", {
    "policy": POLICY,
    "hops": [{"name": "public", "address": "203.0.113.10:25", "probed_from": "198.51.100.8",
              "banner": ["220 barracuda.local ESMTP"], "ehlo_reply": EXCHANGE_EHLO, "starttls": OK_HANDSHAKE,
              "tls": tls12([BARRACUDA_CERT], verification={"checked": True, "trusted": False,
                                                           "error": "self-signed certificate", "error_depth": 0,
                                                           "name_matched": False,
                                                           "expected_names": ["mail.contoso.com"]})},
             {"name": "exchange", "address": "10.0.0.5:25", "probed_from": "10.0.0.9",
              "banner": [EXCHANGE_BANNER], "ehlo_reply": EXCHANGE_EHLO, "starttls": OK_HANDSHAKE,
              "tls": tls12([EXCHANGE_CERT, R3])}]},
    [finding("CERT_DIFFERS_FROM_HOP", "critical", "hop:public", "probe of 203.0.113.10:25 from 198.51.100.8"),
     finding("CERT_SELF_SIGNED", "critical", "hop:public", "CN=barracuda.local"),
     finding("CERT_NAME_MISMATCH", "critical", "hop:public")],
    None, "the device between the public address and Exchange swaps the certificate")

case("hops_capabilities_stripped", {
    "policy": POLICY,
    "hops": [{"name": "firewall", "address": "203.0.113.10:25", "probed_from": "198.51.100.8",
              "banner": [ASA_BANNER], "ehlo_reply": ["250-mail.contoso.com Hello [198.51.100.8]", "250-SIZE 37748736",
                                                     "250-8BITMIME", "250-XXXXXXXA", "250 AUTH NTLM"]},
             {"name": "exchange", "address": "10.0.0.5:25", "probed_from": "10.0.0.9",
              "banner": [EXCHANGE_BANNER], "ehlo_reply": EXCHANGE_EHLO, "starttls": OK_HANDSHAKE,
              "tls": tls12([EXCHANGE_CERT, R3])},
             {"name": "dr-site", "address": "10.1.0.5:25", "error": "connect: Connection timed out"}]},
    [finding("BANNER_MASKED", "warning", "hop:firewall"),
     finding("STARTTLS_MASKED", "critical", "hop:firewall", "250-XXXXXXXA"),
     finding("CAPABILITIES_DIFFER_FROM_HOP", "warning", "hop:firewall", "STARTTLS X-ANONYMOUSTLS"),
     finding("UPSTREAM_UNREACHABLE", "critical", "hop:dr-site", "Connection timed out")],
    None, "ASA between the public address and Exchange: capability set reduced to what inspection passes")

if __name__ == "__main__":
    for name, (facts, findings) in CASES.items():
        with open(name + ".facts.json", "w") as f:
            json.dump(facts, f, indent=1, ensure_ascii=False)
            f.write("\n")
        with open(name + ".findings.json", "w") as f:
            json.dump(findings, f, indent=1, ensure_ascii=False)
            f.write("\n")
    print(len(CASES), "cases")
