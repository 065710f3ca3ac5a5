#pragma once
// SessionFacts: what each leg of one relayed SMTP session said and presented (DESIGN.md §5, §7).
// Plain data. The session fills it verbatim; policy::evaluate judges it; the audit writer
// serialises it. Nothing here decides what is wrong.
//
// Every string that came from the network is stored as the exact bytes received (without
// the line ending); escaping to valid UTF-8 happens once, in the audit writer (printable()).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tls/certificate_facts.hpp"

namespace hopscope {

// One SMTP reply as received: code, enhanced status code (RFC 3463) if present, lines verbatim.
struct ReplyFacts {
  int code = 0;
  std::string enhanced;            // "5.7.3", empty if none
  std::vector<std::string> lines;  // "250-SIZE 37748736", … without CRLF
  [[nodiscard]] bool empty() const { return lines.empty(); }
};

// Bytes that were sent in clear where TLS was due (RFC 3207 §4.2, CVE-2011-0411 class).
struct PlaintextEvidence {
  std::uint64_t bytes = 0;
  std::string first_bytes;  // at most 256 bytes, raw
};

struct StartTlsFacts {
  bool offered = false;             // STARTTLS in the EHLO reply this leg received
  bool attempted = false;           // the client sent STARTTLS
  std::optional<ReplyFacts> reply;  // the reply to STARTTLS
  std::string handshake;            // "ok" | "failed" | "incomplete" | "" (none attempted)
  // Client bytes after "STARTTLS\r\n" that were not a TLS record, e.g. a pipelined command.
  std::optional<PlaintextEvidence> client_plaintext_after_starttls;
  // Server bytes after the 220 reply before the ServerHello.
  std::optional<PlaintextEvidence> server_plaintext_after_220;
};

struct AlertFacts {
  std::string direction;    // "c>s" or "s>c"
  std::string level;        // "warning" | "fatal"
  std::string description;  // RFC 8446 §6 name, e.g. "bad_certificate"
  int code = 0;
};

// What was seen of one TLS handshake (passively, or by a side probe).
struct TlsFacts {
  bool seen = false;                   // any handshake record observed
  std::string source = "handshake";    // "handshake" (on the wire) | "probe"
  std::optional<std::string> version;  // negotiated, "TLSv1.2"
  std::optional<std::string> cipher;   // IANA name, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
  std::uint16_t cipher_id = 0;
  std::optional<std::string> sni;
  std::optional<std::string> alpn;  // selected (visible up to TLS 1.2)
  std::vector<std::string> offered_alpn;
  std::vector<std::string> offered_versions;  // "TLSv1.3", … GREASE removed
  std::vector<std::string> offered_ciphers;   // IANA names, GREASE removed
  std::vector<std::string> offered_groups;
  bool hello_retry_request = false;
  bool resumed = false;
  bool client_certificate_requested = false;  // CertificateRequest seen (TLS ≤ 1.2)
  std::optional<AlertFacts> alert;            // first alert sent in clear
  std::vector<tls::CertificateFacts> server_certificates;
  std::vector<tls::CertificateFacts> client_certificates;
  tls::VerificationFacts verification;  // of server_certificates
  // Application data after the handshake (encrypted; only counted).
  std::uint64_t client_app_records = 0;
  std::uint64_t server_app_records = 0;
  std::uint64_t client_app_bytes = 0;
  std::uint64_t server_app_bytes = 0;
  std::string parse_error;  // the observer gave up: what it could not parse
  // Which side ended TLS first: the direction ("c>s" | "s>c") of the first alert sent under
  // encryption (close_notify, or a fatal alert). TLS ≤ 1.2: a record of content type 21 after
  // that side's ChangeCipherSpec; TLS 1.3 hides alerts as application_data, so there it is
  // the first record of alert size (2 bytes + inner content type + AEAD tag). Empty if none.
  // Unlike the order of the TCP FINs, it does not depend on how fast the other side answered.
  std::string first_encrypted_alert;
};

struct DownstreamFacts {
  std::string peer;   // "40.92.1.2:51000"
  std::string local;  // "10.0.0.9:25"
  std::optional<std::string> original_destination;
  std::string helo;                        // the client's first HELO/EHLO command line, verbatim
  std::vector<std::string> helo_commands;  // every HELO/EHLO command line in order (pre-TLS)
  StartTlsFacts starttls;                  // offered = what the sender was shown
  bool tls_end_to_end = false;             // passthrough: the one handshake is on upstream.tls
  std::optional<TlsFacts> tls;             // inspect mode only
  bool closed_first = false;               // the sender closed before upstream did
};

struct UpstreamFacts {
  std::string address;  // "10.0.0.5:25"
  std::string local;    // our source address toward upstream
  std::optional<ReplyFacts> banner;
  std::optional<ReplyFacts> ehlo_reply;   // reply to the first EHLO
  std::vector<std::string> capabilities;  // keywords with parameters, from ehlo_reply
  std::optional<ReplyFacts> helo_reply;   // reply to HELO, when the sender fell back to it
  StartTlsFacts starttls;
  std::optional<TlsFacts> tls;
  std::optional<std::string> connect_error;
};

// A recipient upstream did not accept: its RCPT got a reply other than 2xx (RFC 5321
// §4.2.2: 4yz temporary, 5yz permanent), or none before the session ended.
struct RefusedRecipient {
  std::string rcpt;                 // the RCPT command line's path, verbatim (as in rcpt_to)
  std::optional<ReplyFacts> reply;  // as the sender received it; absent if none came
};

// One message (DATA or BDAT) seen in clear.
struct MessageFacts {
  std::string mail_from;             // the MAIL command line's path, verbatim
  std::vector<std::string> rcpt_to;  // accepted or not: what the sender asked for
  std::string transfer = "DATA";     // "DATA" | "BDAT"
  std::uint64_t size = 0;            // content as the recipient gets it (unstuffed, chunks joined)
  std::string sha256;                // lower-case hex of that content
  std::optional<ReplyFacts> reply;   // the final reply; absent if none came
  bool ambiguous_end_of_data = false;  // <LF>.<LF> or <LF>.<CR><LF> inside the content
  std::string ambiguous_evidence;      // the bytes around it, raw
  // The recipients of rcpt_to that upstream refused or never answered, in command order.
  std::vector<RefusedRecipient> rcpt_refused;
  // False when no MAIL opened this transaction: a BDAT chunk (or DATA content after a 354)
  // reached upstream without one. mail_from is then null in the document, not "" (which is
  // the null reverse-path of a bounce, RFC 5321 §4.5.5).
  bool mail_sent = true;
};

struct TranscriptEntry {
  std::int64_t t_ms = 0;
  std::string dir;                          // "c>s" | "s>c" | "tls" (a TLS marker)
  std::string line;                         // verbatim without CRLF; AUTH payloads already redacted
  std::optional<std::uint64_t> data_bytes;  // a DATA/BDAT payload: only its size
};

enum class EndReason {
  quit,
  client_closed,
  upstream_closed,
  timeout,
  upstream_unreachable,
  limit,
  shutdown,
  error
};

inline const char* to_string(EndReason r) {
  switch (r) {
    case EndReason::quit:
      return "quit";
    case EndReason::client_closed:
      return "client_closed";
    case EndReason::upstream_closed:
      return "upstream_closed";
    case EndReason::timeout:
      return "timeout";
    case EndReason::upstream_unreachable:
      return "upstream_unreachable";
    case EndReason::limit:
      return "limit";
    case EndReason::shutdown:
      return "shutdown";
    case EndReason::error:
      return "error";
  }
  return "error";
}

struct EndFacts {
  EndReason reason = EndReason::error;
  std::optional<std::string> detail;
};

// Protocol anomalies the codec reported (bare LF, over-long line, malformed reply, …).
struct AnomalyFacts {
  std::string dir;   // "c>s" | "s>c"
  std::string kind;  // "bare_lf", "line_too_long", "malformed_reply", "bdat_size_invalid", …
  std::string detail;
};

struct SessionFacts {
  std::string id;
  std::int64_t started_unix_ms = 0;
  std::int64_t ended_unix_ms = 0;
  std::string mode = "passthrough";
  bool own_probe = false;  // the sender used hops_probe.ehlo: one of our own probes
  DownstreamFacts downstream;
  UpstreamFacts upstream;
  std::vector<MessageFacts> messages;
  std::vector<TranscriptEntry> transcript;
  std::uint64_t transcript_dropped = 0;  // entries not kept once the cap was reached
  std::vector<AnomalyFacts> anomalies;
  std::uint64_t bytes_client_to_server = 0;
  std::uint64_t bytes_server_to_client = 0;
  EndFacts end;
};

// The latest probe of one configured hop (DESIGN.md §1 `[[hops]]`), in path order from the
// sender's side to Exchange. Empty until hop probes are built.
struct HopFacts {
  std::string name;
  std::string address;
  std::string probed_from;  // our source address: Exchange picks a receive connector by it
  std::int64_t probed_unix_ms = 0;
  std::optional<std::string> error;  // unreachable, timeout, …
  std::optional<ReplyFacts> banner;
  std::optional<ReplyFacts> ehlo_reply;
  std::vector<std::string> capabilities;
  StartTlsFacts starttls;
  std::optional<TlsFacts> tls;
};

using HopResults = std::vector<HopFacts>;

}  // namespace hopscope
