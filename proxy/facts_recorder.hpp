#pragma once
// Turns the SMTP codec's events into SessionFacts, verbatim, and keeps the per-session
// deadline bookkeeping (RFC 5321 §4.5.3.2). Sans-I/O: the session passes the time in, so
// this is testable without sockets. Records facts only; never judges them (that is policy).

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "proxy/facts.hpp"
#include "proxy/sha256.hpp"
#include "proxy/smtp/conversation.hpp"
#include "proxy/smtp/fifo.hpp"

namespace hopscope {

class FactsRecorder {
 public:
  using Clock = std::chrono::steady_clock;

  FactsRecorder(SessionFacts& facts, const config::Timeouts& timeouts, Clock::time_point start,
                std::size_t max_transcript_entries);

  // Records one codec event. Returns the StartTls event's payload when the server accepted
  // STARTTLS: from then on the session splices TLS bytes and feeds no more SMTP.
  void record(const smtp::Event& event, Clock::time_point now);

  // A reply hopscope itself sent to the sender (a 421 on timeout, limit or unreachable
  // upstream), kept in the transcript so the document shows everything the sender saw.
  void said_to_sender(std::string_view line, Clock::time_point now);

  // Bytes arrived. Only the data-block and TLS idle deadlines move with reads; a command's
  // deadline runs from the previous command or reply, so a sender trickling bytes cannot
  // hold a session (no slowloris reset).
  void client_activity(Clock::time_point now) {
    last_activity_ = now;
    last_client_read_ = now;
  }
  void server_activity(Clock::time_point now) { last_activity_ = now; }
  void enter_tls() { tls_ = true; }

  // When the session must end if nothing more happens: the oldest unanswered command's
  // limit when a reply is due; the data-block limit while the sender streams a message;
  // the command limit while the sender owes the next command; tls_idle once spliced.
  [[nodiscard]] Clock::time_point deadline() const;
  // What the deadline is waiting for, for end.detail: "reply to DATA", "next command", …
  [[nodiscard]] std::string waiting_for() const;
  [[nodiscard]] bool reply_due() const { return !pending_.empty(); }
  [[nodiscard]] bool quit_acknowledged() const { return quit_acknowledged_; }
  // The sender closed its sending side before upstream's greeting: the greeting is awaited
  // for at most `cap` from `now`. Returns whether the greeting was still awaited.
  bool sender_closed_before_greeting(Clock::time_point now, Clock::duration cap);

  // The session is over, whatever the reason (QUIT, a close, a timeout, the drain, a limit).
  // A message whose content was cut off before its end (the final dot, or the end of the
  // BDAT LAST chunk) gets the size of the content seen so far, no SHA-256, and a
  // message_incomplete anomaly; a message that did end but whose final reply never came gets
  // a final_reply_missing anomaly; an open transaction that never reached DATA or BDAT is
  // not a message, however the session ended. A recipient whose RCPT reply never came is
  // listed as refused without a reply. A DATA or BDAT without a MAIL before it that carried
  // nothing to upstream is not a message either (see mail_sent in facts.hpp). Call it once,
  // before taking the facts and after the last event; later calls do nothing.
  void session_ended();

  // A message's content is complete (its final dot, or BDAT LAST's whole chunk) and its
  // final reply from upstream has not come yet, whatever the sender pipelined after it.
  [[nodiscard]] bool final_reply_pending() const;

  // What a reply due to `cmd` is called in end.detail and the timeout 421.
  [[nodiscard]] static std::string reply_to(const smtp::Command& cmd);

 private:
  // What a reply is awaited for, in two parts ("the reply to " and "MAIL"): awaiting a reply
  // builds no string; only end.detail and the timeout 421 put them together.
  struct What {
    std::string_view text;  // a string literal
    std::string verb;       // appended to text; empty but for "the reply to <verb>"
    [[nodiscard]] std::string said() const { return std::string(text) + verb; }
  };
  [[nodiscard]] static What reply_to_what(const smtp::Command& cmd);
  struct Pending {
    Clock::time_point since;
    Clock::duration limit;
    What what;
    bool ends_message = false;  // the final reply of a message (after the dot, or BDAT LAST)
    // A BDAT whose chunk is still arriving: the reply is due only once the chunk is in, so
    // until then the sender's reads set the pace (data_block), as within DATA.
    bool awaiting_chunk = false;
    // The message this reply belongs to (DATA, BDAT, the final reply): fixed when the command
    // or the final dot is seen, as a RSET or the next MAIL may be pipelined before the reply.
    std::optional<std::size_t> message;
    // A RCPT's reply decides whether the recipient is refused: the message and the index
    // into its rcpt_to. Absent for a recipient not recorded (past the cap or the budget).
    struct Recipient {
      std::size_t message = 0;
      std::size_t index = 0;
    };
    std::optional<Recipient> rcpt;
  };
  void push_pending(Pending pending);
  // The codec dropped a message's partial content (RSET, MAIL, HELO/EHLO or DATA before a
  // BDAT message was complete): it is not part of the next message.
  void discard_partial_content();
  // The open transaction ends (MAIL, RSET, HELO/EHLO, QUIT, the session's end): one that never
  // reached DATA or BDAT sent no message (an address probe, all recipients refused) and is not kept
  // as one.
  void close_transaction();
  // Whether a line of `line_bytes` still fits in the transcript; counted as dropped if not.
  bool transcript_admits(std::size_t line_bytes);
  void add_transcript(Clock::time_point now, std::string_view dir, std::string_view line,
                      std::optional<std::uint64_t> data_bytes = std::nullopt);
  // The same for a line built for it (a command's transcript line): moved, not copied.
  void add_transcript_taking(Clock::time_point now, std::string_view dir, std::string&& line);
  void on_command(const smtp::ClientCommand& c, Clock::time_point now);
  void on_reply(const smtp::ServerReply& r, Clock::time_point now);
  // The first EHLO reply's capability lines and whether it offers STARTTLS (RFC 3207 §4).
  void record_capabilities(const smtp::Reply& reply);
  // The open transaction's message; opens one if none is. `by_mail`: MAIL opens it. Opened by
  // anything else (a RCPT, DATA or BDAT without MAIL) it is not a message until it carries
  // content to upstream (without_mail_).
  MessageFacts& current_message(bool by_mail = false);
  // The recipient's RCPT got `reply` (nullopt: none before the end): listed if not 2xx.
  void rcpt_answered(const Pending::Recipient& rcpt, const std::optional<ReplyFacts>& reply);
  void add_anomaly(AnomalyFacts anomaly);
  void note_cap(const std::string& kind, const std::string& detail);
  // Charges `bytes` to the session's envelope budget; false (and an anomaly, once) when it
  // is spent: the value is then not recorded.
  bool fits_envelope_budget(std::size_t bytes);
  // Counts BDAT chunk bytes; the chunk's last byte starts the wait for its reply.
  void chunk_arrived(std::size_t bytes, Clock::time_point now);
  // A message's reply as recorded: without its lines once the envelope budget is spent.
  ReplyFacts kept_reply(ReplyFacts reply);

  SessionFacts& facts_;
  config::Timeouts timeouts_;
  Clock::time_point start_;
  std::size_t max_transcript_entries_;
  smtp::Fifo<Pending> pending_;  // a deque would allocate two blocks per session up front
  Clock::time_point last_activity_;
  Clock::time_point last_client_read_;
  Clock::time_point last_command_;
  Clock::time_point last_reply_;
  bool in_message_content_ = false;
  bool in_blob_ = false;  // between the 354 to XEXCH50 and the blob's last byte
  bool tls_ = false;
  bool quit_sent_ = false;
  bool quit_acknowledged_ = false;
  bool saw_first_ehlo_reply_ = false;
  std::optional<std::size_t> open_message_;  // index into facts_.messages
  // The message whose content the sender owes: from its DATA or first BDAT until its end
  // (MessageEnd) or until its partial content is discarded. Kept past QUIT, which does not
  // discard: chunks without BDAT LAST and then QUIT are a message cut off too.
  std::optional<std::size_t> unfinished_message_;
  bool session_ended_ = false;
  bool open_message_transferred_ = false;  // DATA or BDAT was sent for it
  // Messages opened without a MAIL (indices into facts_.messages) that have carried nothing
  // to upstream yet: no BDAT chunk byte, no 354 to their DATA, no 2xx to their BDAT. What
  // is still here when the session ends was refused before any content (RFC 5321 §4.1.4:
  // 503 bad sequence) and is removed: messages lists transactions the sender started.
  std::set<std::size_t> without_mail_;
  Sha256 content_hash_;
  std::uint64_t content_size_ = 0;
  std::size_t transcript_bytes_ = 0;
  std::size_t envelope_bytes_ = 0;
  std::uint64_t chunk_left_ = 0;  // bytes of the current BDAT chunk not yet seen
  std::set<std::string> caps_noted_;
};

}  // namespace hopscope
