#include "proxy/facts_recorder.hpp"

#include <algorithm>
#include <type_traits>
#include <utility>
#include <variant>

#include "proxy/smtp/ehlo.hpp"

namespace hopscope {
namespace {

constexpr std::size_t max_evidence_bytes = 256;
// Bounds on what one session's facts may hold, whatever the peers send (each line is
// already capped by the codec's max_line_bytes).
constexpr std::size_t max_transcript_bytes = 1 << 20;
constexpr std::size_t max_anomalies = 1000;
constexpr std::size_t max_messages = 10000;
constexpr std::size_t transcript_entries_reserved = 24;
constexpr std::size_t max_recipients_per_message = 1000;  // RFC 5321 §4.5.3.1.8 asks for 100
// HELO/EHLO lines, envelope addresses and the replies kept per message, together (without
// it, 10000 messages of 1000 recipients of one 64 KiB line each would all be kept).
constexpr std::size_t max_envelope_bytes = 1 << 20;
constexpr std::size_t per_value_bytes = sizeof(std::string);  // what an empty one costs
// Replies awaited at once: the codec's own bound on pipelined commands, plus the greeting.
// Beyond it the codec stops pairing too (pipeline_overflow); the two may then differ by one
// command, which only a sender 1000 commands ahead of its replies can bring about.
constexpr std::size_t max_pending = smtp::Limits{}.max_pipelined_commands + 1;

ReplyFacts to_facts(const smtp::Reply& reply) {
  ReplyFacts r;
  r.code = reply.code;
  r.enhanced = reply.enhanced;
  r.lines = reply.lines;
  return r;
}

PlaintextEvidence evidence(std::string_view bytes) {
  return PlaintextEvidence{bytes.size(), std::string(bytes.substr(0, max_evidence_bytes))};
}

std::int64_t ms_between(FactsRecorder::Clock::time_point a, FactsRecorder::Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

}  // namespace

FactsRecorder::FactsRecorder(SessionFacts& facts, const config::Timeouts& timeouts,
                             Clock::time_point start, std::size_t max_transcript_entries)
    : facts_(facts),
      timeouts_(timeouts),
      start_(start),
      max_transcript_entries_(max_transcript_entries),
      last_activity_(start),
      last_client_read_(start),
      last_command_(start),
      last_reply_(start) {
  // RFC 5321 §4.5.3.2.1: the initial 220 is awaited for `greeting`.
  pending_.push_back({start, timeouts_.greeting, What{"the greeting", {}}, false, false,
                      std::nullopt, std::nullopt});
}

bool FactsRecorder::transcript_admits(std::size_t line_bytes) {
  if (facts_.transcript.size() >= max_transcript_entries_ ||
      transcript_bytes_ + line_bytes > max_transcript_bytes) {
    ++facts_.transcript_dropped;
    return false;
  }
  transcript_bytes_ += line_bytes;
  if (facts_.transcript.size() == 1 && facts_.transcript.capacity() == 1) {
    // Past the greeting the sender speaks: a short session's entries (EHLO and its reply, one
    // message, QUIT) in one allocation instead of five as the vector doubles. Not before: an
    // idle session holds only its greeting.
    facts_.transcript.reserve(std::min(max_transcript_entries_, transcript_entries_reserved));
  }
  return true;
}

void FactsRecorder::add_transcript(Clock::time_point now, std::string_view dir,
                                   std::string_view line, std::optional<std::uint64_t> data_bytes) {
  if (transcript_admits(line.size())) {
    // Each string is copied once, from the event (no parameter copy first).
    facts_.transcript.push_back(
        TranscriptEntry{ms_between(start_, now), std::string(dir), std::string(line), data_bytes});
  }
}

void FactsRecorder::add_transcript_taking(Clock::time_point now, std::string_view dir,
                                          std::string&& line) {
  if (transcript_admits(line.size())) {
    facts_.transcript.push_back(
        TranscriptEntry{ms_between(start_, now), std::string(dir), std::move(line), std::nullopt});
  }
}

void FactsRecorder::add_anomaly(AnomalyFacts anomaly) {
  if (facts_.anomalies.size() < max_anomalies) {
    facts_.anomalies.push_back(std::move(anomaly));
  } else if (facts_.anomalies.size() == max_anomalies) {
    facts_.anomalies.push_back(
        AnomalyFacts{"", "anomalies_capped", "further anomalies were not recorded"});
  }
}

void FactsRecorder::note_cap(const std::string& kind, const std::string& detail) {
  if (caps_noted_.insert(kind).second) {
    add_anomaly(AnomalyFacts{"c>s", kind, detail});
  }
}

bool FactsRecorder::fits_envelope_budget(std::size_t bytes) {
  if (envelope_bytes_ + bytes > max_envelope_bytes) {
    note_cap("envelope_capped", "more than " + std::to_string(max_envelope_bytes) +
                                    " bytes of HELO/EHLO lines, addresses and message replies; "
                                    "later ones not recorded");
    return false;
  }
  envelope_bytes_ += bytes;
  return true;
}

ReplyFacts FactsRecorder::kept_reply(ReplyFacts reply) {
  std::size_t bytes = 0;
  for (const auto& line : reply.lines) {
    bytes += per_value_bytes + line.size();
  }
  if (!fits_envelope_budget(bytes)) {
    reply.lines.clear();  // the code and enhanced status stay: they are what policy reads
  }
  return reply;
}

void FactsRecorder::push_pending(Pending pending) {
  if (pending_.size() < max_pending) {
    pending_.push_back(std::move(pending));
  }
}

void FactsRecorder::discard_partial_content() {
  unfinished_message_.reset();
  if (content_size_ > 0 || in_message_content_) {
    content_hash_ = Sha256();
    content_size_ = 0;
    in_message_content_ = false;
  }
}

void FactsRecorder::close_transaction() {
  if (open_message_ && !open_message_transferred_ && *open_message_ + 1 == facts_.messages.size() &&
      std::none_of(pending_.begin(), pending_.end(),
                   [&](const Pending& p) { return p.message == open_message_; })) {
    facts_.messages.pop_back();
    // The index is reused by the next message: a RCPT reply still due is not its business.
    without_mail_.erase(*open_message_);
    for (auto& p : pending_) {
      if (p.rcpt && p.rcpt->message == *open_message_) {
        p.rcpt.reset();
      }
    }
  }
  open_message_.reset();
}

void FactsRecorder::rcpt_answered(const Pending::Recipient& rcpt,
                                  const std::optional<ReplyFacts>& reply) {
  if (rcpt.message >= facts_.messages.size()) {
    return;
  }
  auto& m = facts_.messages[rcpt.message];
  if (rcpt.index >= m.rcpt_to.size() || (reply && reply->code >= 200 && reply->code <= 299)) {
    return;  // RFC 5321 §4.2.2: 250 and 251 accept the recipient, 252 takes it on trust
  }
  m.rcpt_refused.push_back(RefusedRecipient{
      m.rcpt_to[rcpt.index], reply ? std::optional(kept_reply(*reply)) : std::nullopt});
}

MessageFacts& FactsRecorder::current_message(bool by_mail) {
  if (!open_message_) {
    if (facts_.messages.size() >= max_messages) {
      // Past the cap, the last message's facts are reused: counted as an anomaly once.
      note_cap("messages_capped", "more than " + std::to_string(max_messages) + " messages");
      open_message_ = facts_.messages.size() - 1;
      open_message_transferred_ = true;  // a real message: never dropped as a probe
      without_mail_.erase(*open_message_);
      return facts_.messages.back();
    }
    facts_.messages.emplace_back();
    open_message_ = facts_.messages.size() - 1;
    open_message_transferred_ = false;
    if (!by_mail) {
      facts_.messages.back().mail_sent = false;
      without_mail_.insert(*open_message_);
    }
  }
  return facts_.messages[*open_message_];
}

void FactsRecorder::record(const smtp::Event& event, Clock::time_point now) {
  std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, smtp::ClientCommand>) {
          on_command(e, now);
        } else if constexpr (std::is_same_v<T, smtp::ServerReply>) {
          on_reply(e, now);
        } else if constexpr (std::is_same_v<T, smtp::MessageContent>) {
          content_hash_.update(e.bytes);
          content_size_ += e.bytes.size();
          if (!e.bytes.empty() && unfinished_message_) {
            without_mail_.erase(*unfinished_message_);  // content reached upstream
          }
          in_message_content_ = true;
          chunk_arrived(e.bytes.size(), now);
        } else if constexpr (std::is_same_v<T, smtp::MessageEnd>) {
          auto& m = current_message();
          m.size = content_size_;
          m.sha256 = content_hash_.finish();
          if (!e.complete) {
            // Bytes held for the 354 were dropped (pending_overflow): the content seen is not
            // the message, so no SHA-256 is claimed for it.
            m.sha256.clear();
            add_anomaly(AnomalyFacts{"c>s", "message_incomplete",
                                     std::to_string(content_size_) +
                                         " bytes of content seen, the rest was not parsed: "
                                         "size is a lower bound, SHA-256 unknown"});
          }
          content_size_ = 0;
          in_message_content_ = false;
          unfinished_message_.reset();
          add_transcript(now, "c>s", {}, e.wire_bytes);
          if (e.transfer == smtp::Transfer::data) {
            // RFC 5321 §4.5.3.2.6: up to 10 minutes for the reply after the final dot. (The
            // reply to BDAT LAST is already awaited as that command's reply.)
            push_pending({now, timeouts_.data_end, What{"the reply after the end of data", {}},
                          true, false, open_message_, std::nullopt});
          }
        } else if constexpr (std::is_same_v<T, smtp::AmbiguousEndOfData>) {
          auto& m = current_message();
          if (!m.ambiguous_end_of_data) {
            m.ambiguous_end_of_data = true;
            m.ambiguous_evidence = e.evidence.substr(0, max_evidence_bytes);
          }
        } else if constexpr (std::is_same_v<T, smtp::StartTls>) {
          auto& st = facts_.downstream.starttls;
          if (!e.client_bytes_after_command.empty()) {
            st.client_plaintext_after_starttls = evidence(e.client_bytes_after_command);
            facts_.upstream.starttls.client_plaintext_after_starttls =
                st.client_plaintext_after_starttls;
          }
          add_transcript(now, "tls", "STARTTLS accepted: TLS bytes are spliced from here");
        } else if constexpr (std::is_same_v<T, smtp::BlobEnd>) {
          // The XEXCH50 blob is in: one more reply is due, as for a command.
          in_blob_ = false;
          push_pending({now, timeouts_.command, What{"the reply after the XEXCH50 blob", {}}, false,
                        false, std::nullopt, std::nullopt});
        } else if constexpr (std::is_same_v<T, smtp::Anomaly>) {
          add_anomaly(AnomalyFacts{smtp::to_string(e.dir), e.kind, e.detail});
        }
      },
      event);
}

void FactsRecorder::on_command(const smtp::ClientCommand& c, Clock::time_point now) {
  last_command_ = now;
  add_transcript_taking(now, "c>s", c.command.transcript_line());
  const auto& cmd = c.command;
  Clock::duration limit = timeouts_.command;
  bool ends_message = false;
  using K = smtp::CommandKind;
  std::optional<std::size_t> message;
  switch (cmd.kind) {
    case K::helo:
    case K::ehlo:
      discard_partial_content();
      close_transaction();
      if (facts_.downstream.helo.empty()) {
        facts_.downstream.helo = cmd.raw;
      }
      if (!tls_ && fits_envelope_budget(per_value_bytes + cmd.raw.size())) {
        facts_.downstream.helo_commands.push_back(cmd.raw);
      }
      break;
    case K::mail: {
      discard_partial_content();
      close_transaction();
      auto& m = current_message(true);
      m.mail_sent = true;  // past the messages cap, the reused message's too
      if (fits_envelope_budget(cmd.path().size())) {
        m.mail_from = cmd.path();
      }
      break;
    }
    case K::rcpt:
      // A recipient past the cap is in neither rcpt_to nor rcpt_refused: only the
      // recipients_capped anomaly says that there were more.
      if (auto& rcpts = current_message().rcpt_to; rcpts.size() < max_recipients_per_message) {
        if (fits_envelope_budget(per_value_bytes + cmd.path().size())) {
          rcpts.emplace_back(cmd.path());
          push_pending({now, limit, reply_to_what(cmd), false, false, std::nullopt,
                        Pending::Recipient{*open_message_, rcpts.size() - 1}});
          return;
        }
      } else {
        note_cap("recipients_capped",
                 "more than " + std::to_string(max_recipients_per_message) + " recipients");
      }
      break;
    case K::data:
      discard_partial_content();
      current_message().transfer = "DATA";
      open_message_transferred_ = true;
      message = open_message_;
      unfinished_message_ = open_message_;
      break;
    case K::bdat:
    case K::bdat_last:
      current_message().transfer = "BDAT";
      open_message_transferred_ = true;
      message = open_message_;
      unfinished_message_ = open_message_;
      if (cmd.kind == K::bdat_last) {
        // The reply to BDAT LAST comes once the whole message is in (RFC 3030 §2).
        limit = timeouts_.data_end;
        ends_message = true;
      }
      if (cmd.bdat_size && *cmd.bdat_size > 0) {
        chunk_left_ = *cmd.bdat_size;
        push_pending({now, limit, reply_to_what(cmd), ends_message, true, message, std::nullopt});
        return;
      }
      break;
    case K::starttls:
      facts_.downstream.starttls.attempted = true;
      facts_.upstream.starttls.attempted = true;
      break;
    case K::quit:
      quit_sent_ = true;
      close_transaction();
      break;
    case K::rset:
      discard_partial_content();
      close_transaction();
      break;
    default:
      break;
  }
  push_pending({now, limit, reply_to_what(cmd), ends_message, false, message, std::nullopt});
}

void FactsRecorder::on_reply(const smtp::ServerReply& r, Clock::time_point now) {
  last_reply_ = now;
  for (const auto& line : r.reply.lines) {
    add_transcript(now, "s>c", line);
  }
  bool ends_message = false;
  std::optional<std::size_t> message;
  std::optional<Pending::Recipient> rcpt;
  if (!pending_.empty()) {
    ends_message = pending_.front().ends_message;
    message = pending_.front().message;
    rcpt = pending_.front().rcpt;
    pending_.pop_front();
  }
  // Built only where it is kept: most replies (MAIL, RCPT accepted, ...) go to the
  // transcript alone.
  const auto reply = [&r] { return to_facts(r.reply); };
  if (!r.in_reply_to) {
    if (!facts_.upstream.banner) {
      facts_.upstream.banner = reply();
    }
    return;
  }
  using K = smtp::CommandKind;
  const auto& cmd = *r.in_reply_to;
  if (message && *message < facts_.messages.size() &&
      ((cmd.kind == K::data && !ends_message && smtp::is_positive_intermediate(r.reply.code)) ||
       ((cmd.kind == K::bdat || cmd.kind == K::bdat_last) && r.reply.code >= 200 &&
        r.reply.code <= 299))) {
    without_mail_.erase(*message);  // upstream took DATA (354) or a BDAT (2xx): a message
  }
  switch (cmd.kind) {
    case K::rcpt:
      if (rcpt && !(r.reply.code >= 200 && r.reply.code <= 299)) {
        rcpt_answered(*rcpt, reply());  // accepted ones are not listed: no facts to build
      }
      break;
    case K::ehlo:
      if (!saw_first_ehlo_reply_ && !tls_) {
        saw_first_ehlo_reply_ = true;
        facts_.upstream.ehlo_reply = reply();
        record_capabilities(r.reply);
      }
      break;
    case K::helo:
      if (!facts_.upstream.helo_reply && !tls_) {
        facts_.upstream.helo_reply = reply();
      }
      break;
    case K::starttls:
      facts_.upstream.starttls.reply = reply();
      facts_.downstream.starttls.reply = facts_.upstream.starttls.reply;
      break;
    case K::data:
      if (!ends_message && !smtp::is_positive_intermediate(r.reply.code) && message) {
        facts_.messages[*message].reply = kept_reply(reply());  // DATA refused: no content
      }
      break;
    case K::bdat:
      // RFC 3030 §2: a chunk refused with 4xx/5xx fails the transaction; that reply is the
      // message's answer, and no further chunk follows.
      if (r.reply.code >= 400 && message) {
        facts_.messages[*message].reply = kept_reply(reply());
      }
      break;
    case K::xexch50:
      if (r.reply.code == 354 && !r.after_content) {
        in_blob_ = true;  // the sender owes the blob; BlobEnd hands the turn to upstream
      }
      break;
    case K::quit:
      if (r.reply.code == 221) {
        quit_acknowledged_ = true;
      }
      break;
    default:
      break;
  }
  if (ends_message && message) {
    facts_.messages[*message].reply = kept_reply(reply());
    if (open_message_ == message) {
      open_message_.reset();
    }
  }
}

void FactsRecorder::record_capabilities(const smtp::Reply& reply) {
  auto capabilities = smtp::capability_lines(reply);
  if (!capabilities) {
    return;  // not a capability list (a PIX answering EHLO with 500): nothing is offered
  }
  facts_.upstream.capabilities = std::move(capabilities->lines);
  // A reply past the codec's caps keeps only its first lines; STARTTLS on a dropped line was
  // still seen (Reply::dropped_starttls), so the offer is a fact either way.
  facts_.upstream.starttls.offered = capabilities->starttls || reply.dropped_starttls;
  // Passthrough relays the reply verbatim: the sender is shown the same.
  facts_.downstream.starttls.offered = facts_.upstream.starttls.offered;
}

void FactsRecorder::session_ended() {
  if (session_ended_) {
    return;
  }
  session_ended_ = true;
  // A transaction open when the session ended (upstream gone after RCPT, a timeout, the
  // drain) that never reached DATA or BDAT sent no message, as on QUIT or RSET.
  close_transaction();
  // A RCPT still awaiting its reply: the sender never learnt that upstream took the
  // recipient, so it was not accepted. pending_ is in order: these come after the answered.
  for (const auto& p : pending_) {
    if (p.rcpt) {
      rcpt_answered(*p.rcpt, std::nullopt);
    }
  }
  // RFC 5321 §4.1.1.10: a connection lost in the middle of a transaction cancels it. A
  // message whose content never reached its end was not delivered; a refused one already has
  // its answer (the refusal) and says nothing more here. A DATA or BDAT without MAIL that
  // carried nothing is no message (removed below) and says nothing either.
  if (unfinished_message_ && *unfinished_message_ < facts_.messages.size() &&
      without_mail_.count(*unfinished_message_) == 0) {
    auto& m = facts_.messages[*unfinished_message_];
    if (!m.reply) {
      m.size = content_size_;
      m.sha256.clear();  // the content seen is not the message
      const bool bdat = m.transfer == "BDAT";
      add_anomaly(AnomalyFacts{
          "c>s", "message_incomplete",
          "the session ended after " + std::to_string(content_size_) +
              " bytes of content from the sender, before the end of data (" +
              (bdat ? "BDAT LAST" : "the final dot") +
              "): size is what was seen, SHA-256 unknown, the message was not delivered by "
              "this session"});
    }
  }
  // The content did end and only upstream's final reply is missing: size and SHA-256 are
  // the message's. Whether upstream took it is unknown; a sender left without a reply treats
  // it as not delivered and tries again (RFC 5321 §4.1.1.10), a duplicate if it was taken
  // (RFC 1047).
  std::optional<std::size_t> said;  // pending_ is in order: a message's waits are adjacent
  for (const auto& p : pending_) {
    if (!p.ends_message || !p.message || p.message == unfinished_message_ || p.message == said ||
        *p.message >= facts_.messages.size() || facts_.messages[*p.message].reply ||
        without_mail_.count(*p.message) > 0) {
      continue;
    }
    said = p.message;
    const auto& m = facts_.messages[*p.message];
    add_anomaly(AnomalyFacts{
        "s>c", "final_reply_missing",
        "the session ended after the end of data (" +
            std::string(m.transfer == "BDAT" ? "BDAT LAST" : "the final dot") + ") of " +
            std::to_string(m.size) +
            " bytes of content, before upstream's final reply: upstream may or may not have "
            "accepted the message; the sender, left without a reply, should send it again (a "
            "duplicate if upstream did accept it)"});
  }
  // messages lists only the transactions the sender started (a MAIL) or whose content
  // reached upstream anyway: a DATA or BDAT without MAIL refused (503 5.5.1) before any
  // content is not one. Indices shift from here, so nothing pending refers to them any more.
  std::size_t kept = 0;
  for (std::size_t i = 0; i < facts_.messages.size(); ++i) {
    if (without_mail_.count(i) > 0) {
      continue;
    }
    if (kept != i) {
      facts_.messages[kept] = std::move(facts_.messages[i]);
    }
    ++kept;
  }
  facts_.messages.resize(kept);
  without_mail_.clear();
  for (auto& p : pending_) {
    p.message.reset();
    p.rcpt.reset();
  }
  open_message_.reset();
  unfinished_message_.reset();
}

void FactsRecorder::said_to_sender(std::string_view line, Clock::time_point now) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
    line.remove_suffix(1);
  }
  add_transcript_taking(now, "s>c", "[hopscope] " + std::string(line));
}

void FactsRecorder::chunk_arrived(std::size_t bytes, Clock::time_point now) {
  if (chunk_left_ == 0) {
    return;  // DATA content
  }
  chunk_left_ -= std::min<std::uint64_t>(chunk_left_, bytes);
  if (chunk_left_ > 0) {
    return;
  }
  // The chunk is in: from now on upstream owes the reply (RFC 3030 §2).
  for (auto& p : pending_) {
    if (p.awaiting_chunk) {
      p.awaiting_chunk = false;
      p.since = now;
      break;
    }
  }
}

bool FactsRecorder::sender_closed_before_greeting(Clock::time_point now, Clock::duration cap) {
  if (facts_.upstream.banner || pending_.empty() || pending_.front().what.text != "the greeting") {
    return false;
  }
  auto& greeting = pending_.front();
  greeting.limit = std::min(greeting.limit, (now - greeting.since) + cap);
  greeting.what = What{"the greeting (the sender had closed its side)", {}};
  return true;
}

FactsRecorder::Clock::time_point FactsRecorder::deadline() const {
  if (tls_) {
    return last_activity_ + timeouts_.tls_idle;
  }
  if (!pending_.empty() && pending_.front().awaiting_chunk) {
    // The chunk is still arriving: each read gives data_block more. Never earlier than the
    // reply's own limit from the command: if the codec lost count of the chunk (bytes it
    // could not hold, see Conversation::hold), upstream may already be answering.
    const auto& p = pending_.front();
    return std::max(last_client_read_ + timeouts_.data_block, p.since + p.limit);
  }
  if (!pending_.empty()) {
    return pending_.front().since + pending_.front().limit;
  }
  if (in_message_content_ || in_blob_) {
    return last_client_read_ + timeouts_.data_block;  // RFC 5321 §4.5.3.2.5
  }
  return std::max(last_reply_, last_command_) + timeouts_.command;
}

bool FactsRecorder::final_reply_pending() const {
  return std::any_of(pending_.begin(), pending_.end(),
                     [](const Pending& p) { return p.ends_message && !p.awaiting_chunk; });
}

// "the reply to MAIL", as end.detail and the timeout 421 say it; a SASL response and an empty
// line have no verb to name.
std::string FactsRecorder::reply_to(const smtp::Command& cmd) {
  return reply_to_what(cmd).said();
}

FactsRecorder::What FactsRecorder::reply_to_what(const smtp::Command& cmd) {
  // A redacted line's verb is the secret itself (a SASL response taken for a command).
  if (cmd.kind == smtp::CommandKind::auth_response ||
      (cmd.secret && cmd.kind != smtp::CommandKind::auth)) {
    return What{"the reply to the AUTH response", {}};
  }
  if (cmd.verb.empty()) {
    return What{"the reply to an empty command line", {}};
  }
  return What{"the reply to ", cmd.verb};
}

std::string FactsRecorder::waiting_for() const {
  if (tls_) {
    return "TLS traffic in either direction (tls_idle)";
  }
  if (!pending_.empty() && pending_.front().awaiting_chunk) {
    return "the rest of the BDAT chunk from the sender";
  }
  if (!pending_.empty()) {
    return pending_.front().what.said() + " from upstream";
  }
  if (in_message_content_) {
    return "the next data block from the sender";
  }
  if (in_blob_) {
    return "the rest of the XEXCH50 blob from the sender";
  }
  return "the next command from the sender";
}

}  // namespace hopscope
