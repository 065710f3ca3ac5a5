#pragma once
// Judges what was said in clear on a session: the banner, the EHLO reply, the STARTTLS
// exchange, commands sent in clear, plaintext injected around STARTTLS, replies refusing mail
// for want of TLS, ambiguous end-of-data, and a sender that left right after TLS. Reads
// SessionFacts (and its transcript, paired into exchanges) only. Pure.

#include "config/config.hpp"
#include "policy/finding_list.hpp"
#include "policy/transcript.hpp"
#include "proxy/facts.hpp"

namespace hopscope::policy {

// BANNER_MASKED, EHLO_REJECTED, STARTTLS_MASKED, STARTTLS_NOT_OFFERED, STARTTLS_REJECTED,
// STARTTLS_NOT_USED, STARTTLS_INJECTION, AMBIGUOUS_END_OF_DATA.
// `exchanges` is pair_exchanges(facts.transcript), paired once for every check.
void check_smtp(const SessionFacts& facts, const std::vector<Exchange>& exchanges,
                const config::PolicyConfig& policy, FindingList& out);

// STARTTLS offered/masked/not-offered judgement of one EHLO reply (a session's upstream or a
// hop), under `leg`. Shared by sessions and hops.
void check_ehlo_reply(const ReplyFacts& ehlo_reply, const StartTlsFacts& starttls,
                      const std::string& leg, const config::PolicyConfig& policy, FindingList& out);

// REMOTE_TLS_ERROR; run after every other check, since its remedy names the finding that
// explains it.
void check_remote_tls_errors(const std::vector<Exchange>& exchanges, FindingList& out);

// SENDER_ABANDONED_AFTER_TLS; run after the certificate checks, whose findings it names.
void check_sender_abandoned(const SessionFacts& facts, FindingList& out);

}  // namespace hopscope::policy
