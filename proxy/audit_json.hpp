#pragma once
// SessionFacts + findings → the audit JSON document (DESIGN.md §5, schema
// "hopscope.session/1") and the one-line summary for sessions.jsonl. Pure: no files, no
// clocks, no logs. Every string from the network is escaped with printable() and capped
// at AuditOptions::line_cap, so the output is always valid UTF-8 and says its cap in
// "limits". Message bodies never reach this file; AUTH payloads arrive already redacted.
// Field names are a published contract: add fields, never rename or remove one.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "proxy/facts.hpp"

namespace hopscope {

// A finding as the audit document shows it. The lead converts policy::Finding to this so
// that the writer does not depend on the policy module.
struct FindingView {
  std::string id;        // "CERT_SELF_SIGNED"
  std::string severity;  // "info" | "warning" | "critical"
  std::string leg;       // "upstream", "downstream", a hop name
  std::string summary;
  std::string evidence;  // may hold several lines ("\n"); each line is capped
  std::string remedy;
};

// Large enough for an RFC 5321 §4.5.3.1.6 text line (1000 octets) even when every byte
// needs a four-character \xNN escape.
inline constexpr std::size_t default_line_cap = 4096;

struct AuditOptions {
  bool record_envelope = true;              // false: no mail_from / rcpt_to / rcpt_refused
  bool transcript = true;                   // false: "transcript": null
  std::size_t line_cap = default_line_cap;  // output bytes per string (see printable())
};

inline constexpr const char* audit_schema = "hopscope.session/1";

// The whole document: compact JSON, one value, ending in a newline.
std::string to_json(const SessionFacts& facts, const std::vector<FindingView>& findings,
                    const std::string& verdict, const AuditOptions& options);

// One line (no newline inside, none at the end) for DIR/sessions.jsonl: id, started, mode,
// peer, upstream, STARTTLS offered/used, TLS version, leaf subject and sha256, finding
// ids, end reason, verdict.
std::string summary_json_line(const SessionFacts& facts, const std::vector<FindingView>& findings,
                              const std::string& verdict, const AuditOptions& options);

// "Used" means the mail went inside TLS: STARTTLS was sent AND accepted (RFC 3207 §4, "220
// Ready to start TLS"; the relay splices on any 2xx), so a handshake followed. A STARTTLS
// refused with 454 or 500 (an ASA masking it) was attempted, yet the mail went in clear.
// sessions.jsonl's starttls_used and the stderr summary line's used= both say this.
bool starttls_used(const StartTlsFacts& st);

// "2026-11-22T17:45:00.123Z" (ISO 8601, UTC, milliseconds).
std::string iso8601_utc(std::int64_t unix_ms);

// "2026-11-22": the folder of a document started at `unix_ms` (UTC).
std::string utc_date(std::int64_t unix_ms);

}  // namespace hopscope
