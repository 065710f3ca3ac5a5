#pragma once
// ESMTP-inspection signatures: how a firewall that inspects SMTP shows on the wire. Each
// signature is one named function with its source; all take verbatim lines and decide
// nothing else. Pure: no I/O, never throws on any input.
// Sources: /work/shared/reference/field-facts.md §1 (Cisco ASA, PIX MailGuard, ESA notes).

#include <string>
#include <string_view>
#include <vector>

#include "proxy/facts.hpp"

namespace hopscope::policy {

// The first word of an EHLO capability or reply line, upper-cased ("250-STARTTLS" and
// "STARTTLS" both give "STARTTLS"; "250-SIZE 37748736" gives "SIZE").
std::string capability_keyword(std::string_view line);

// A 220 banner whose text was replaced by '*' (Cisco ASA `mask-banner`, e.g.
// "220 ****************"), including PIX MailGuard, which keeps only the '2' and '0'
// characters ("220 *********0****…**2***"). `line` is the first banner line.
bool is_masked_banner(std::string_view line);

// A token that is a run of 'X' ending in at most one other letter ("XXXXXXXA", "XXXXXXXX") —
// the length-preserving rewrite of Cisco ASA ESMTP inspection (ESA tech note 118550). Needs at
// least three X's, so real keywords such as XRDST, XEXCH50, XOORG, XSHADOW are not masks.
bool is_x_mask(std::string_view token);

// The well-known EHLO keywords of `mask`'s length that `present` (the other keywords of the
// same reply, upper-case) does not already hold: what the mask may stand for. Empty when the
// token is no mask. "XXXXXXXA" among SIZE, 8BITMIME gives {"STARTTLS", "CHUNKING"}.
std::vector<std::string> masked_keyword_candidates(std::string_view mask,
                                                   const std::vector<std::string>& present);

// An EHLO reply whose STARTTLS keyword was masked: returns the masked line ("250 XXXXXXXA"),
// or empty. ASA `no allow-tls` (field-facts §1.1): same length as STARTTLS, STARTTLS absent.
std::string masked_starttls_line(const ReplyFacts& ehlo_reply);

// A command line that is only X's ("XXXXXXXX"): ASA replaced a disallowed command, e.g. the
// sender's STARTTLS, by X's of the same length (Cisco TAC 113423).
bool is_masked_command(std::string_view command_line);

// A command line whose verb is exactly four X's ("XXXX" or "XXXX mail.example.com"): PIX
// MailGuard / ASA ESMTP inspection rewrote a four-letter verb it does not pass — in practice
// the sender's EHLO (HELO is allowed) — keeping its length and the argument (Cisco TAC 113423).
bool is_masked_ehlo(std::string_view command_line);

// "NOOP    ": the sender's STARTTLS turned into NOOP padded to STARTTLS's 8 bytes, as PIX
// 5.1+ fixup does with commands it denies (field-facts §1.2: "inappropriate commands are
// replaced with NOOP", lengths never change). No sender pads NOOP with four spaces.
bool is_noop_for_starttls(std::string_view command_line);

// A 2xx reply to STARTTLS other than 220. RFC 3207 §4 makes 220 the only go-ahead; a 250 means
// the server did not see STARTTLS at all but a command it accepted (PIX NOOP: "The PIX responds
// with an OK even to denied commands", field-facts §1.2).
bool is_starttls_reply_not_go_ahead(int code);

// A reply that says "command not recognised" (500 or 502, RFC 5321 §4.2.4): what a server
// answers to a command the firewall rewrote ("500 #5.5.1 command not recognized", ESA 118550).
bool is_unrecognised_command_reply(int code);

// EHLO refused with 500/502/504 (PIX MailGuard lets only RFC 821 verbs through: AppRiver KB,
// Cisco KB "mail traffic does not pass through a PIX firewall with ESMTP").
bool is_ehlo_refused(const ReplyFacts& ehlo_reply);

// ESMTP keywords that ASA/PIX inspection does not pass (field-facts §1.1: "ATRN, STARTTLS,
// ONEX, VERB, CHUNKING, and private extensions are not supported"): those of `full` that are
// missing from `reduced`, when what is left of `reduced` holds only RFC 821/ASA-allowed
// keywords (or masks). Empty when the reduction does not look like ESMTP inspection.
std::vector<std::string> inspection_stripped_keywords(const std::vector<std::string>& reduced,
                                                      const std::vector<std::string>& full);

// A reply line refusing mail for want of TLS, matched on the enhanced code and the text,
// never the bare code (RFC 4954 uses "530 5.7.0 Authentication required"):
// "451 5.7.3 Must issue a STARTTLS command first" (Exchange Online), "530 5.7.0 Must issue a
// STARTTLS command first" / "530 Must issue a STARTTLS command first" (RFC 3207 §4),
// "454 4.7.0 TLS not available due to temporary reason" (RFC 3207 §4),
// "5.7.30 REQUIRETLS support required" (RFC 8689 §5).
bool is_tls_required_refusal(std::string_view reply_line);

}  // namespace hopscope::policy
