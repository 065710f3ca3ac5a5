#pragma once
// Parses server replies (RFC 5321 §4.2) from bytes: multi-line replies, enhanced status codes
// (RFC 3463 / RFC 2034). Sans-I/O: no sockets, clocks or logs; never throws on input.
// A line that breaks the grammar becomes a MalformedReply event: the parser never guesses a
// code (Postfix smtp_chat.c does the same: garbage ends the reply, with code 0).
// Memory is bounded by the line limit and the per-reply line and byte caps.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "proxy/smtp/fifo.hpp"
#include "proxy/smtp/line_reader.hpp"

namespace hopscope::smtp {

// A well-formed reply. `lines` are verbatim without their endings ("250-SIZE 37748736").
struct Reply {
  int code = 0;                    // 200..559 per the grammar; 0 only for a malformed reply
  std::string enhanced;            // "2.0.0" when the first line carries one, else empty
  std::vector<std::string> lines;  // at most max_reply_lines
  std::size_t dropped_lines = 0;   // lines past the caps (a ReplyTooLong was reported)
  // A dropped line (not the first) has the EHLO keyword STARTTLS (RFC 3207 §4): whether an
  // EHLO reply offers STARTTLS is still known when its line was not kept. Every dropped line
  // is looked at, so the answer is exact; the lines themselves are not kept.
  bool dropped_starttls = false;
  friend bool operator==(const Reply&, const Reply&) = default;
};

// RFC 5321 §4.2.1: a 3yz reply is positive intermediate: the sender goes on. Senders act on
// the class, not on the code: Postfix, Exim and Sendmail send the message after any 3yz to
// DATA (Postfix smtp_proto.c: `resp->code / 100 != 3` fails it). So whatever follows a 3yz to
// DATA is content, and to AUTH a SASL response, whether the code is 354/334 or not.
[[nodiscard]] constexpr bool is_positive_intermediate(int code) {
  return code >= 300 && code <= 399;
}

// A line that is not `Reply-code [ ("-" / SP) text ]` with a code in 2xx..5xx, or a
// continuation whose code differs. It ends the reply; `lines` holds the lines so far and it.
struct MalformedReply {
  std::vector<std::string> lines;
  std::string reason;
  friend bool operator==(const MalformedReply&, const MalformedReply&) = default;
};

// The reply grew past max_reply_lines or max_reply_bytes; reported once, when it happens.
// Further continuation lines are dropped (counted, STARTTLS noted); the Reply follows when its last
// line comes.
struct ReplyTooLong {
  int code = 0;
  std::size_t max_lines = 0;
  std::size_t max_bytes = 0;
  friend bool operator==(const ReplyTooLong&, const ReplyTooLong&) = default;
};

// A reply line ended in a bare LF (reported, the line is used as it is).
struct ReplyBareLf {
  std::string line;
  friend bool operator==(const ReplyBareLf&, const ReplyBareLf&) = default;
};

using ReplyEvent = std::variant<Reply, MalformedReply, ReplyTooLong, LineTooLong, ReplyBareLf>;

// Enhanced status code (RFC 3463 §2: class.subject.detail, class matching the reply's first
// digit per RFC 2034 §4) at the start of `text`, or empty.
[[nodiscard]] std::string parse_enhanced_code(std::string_view text, int code);

class ReplyParser {
 public:
  ReplyParser(std::size_t max_line_bytes, std::size_t max_reply_lines, std::size_t max_reply_bytes);

  void feed(std::string_view bytes);

  // Outcomes:
  //  @li Reply: a complete reply.
  //  @li MalformedReply: a line broke the grammar; it ends the reply (counts as one reply).
  //  @li ReplyTooLong: the reply passed a cap; the Reply comes later.
  //  @li LineTooLong: a reply line passed max_line_bytes; its prefix is used as the line.
  //  @li ReplyBareLf: a reply line ended in LF alone.
  //  @li nullopt: need more bytes.
  // Lazy: after a Reply or MalformedReply, no later byte has been examined.
  [[nodiscard]] std::optional<ReplyEvent> next();
  // The same events read in place, for a consumer that moves out only what it keeps: the
  // oldest not yet taken (null when more bytes are needed), then drop_front(). The pointer is
  // valid until the next call to feed(), peek() or drop_front().
  [[nodiscard]] ReplyEvent* peek();
  void drop_front() { out_.pop_front(); }

  [[nodiscard]] std::size_t buffered() const { return reader_.buffered(); }
  [[nodiscard]] std::string take_buffered() { return reader_.take_buffered(); }

 private:
  void on_line(std::string text);

  LineReader reader_;
  std::size_t max_reply_lines_;
  std::size_t max_reply_bytes_;
  Fifo<ReplyEvent> out_;  // events of the last line, in order
  Reply current_;
  std::size_t current_bytes_ = 0;
  bool in_reply_ = false;
  bool too_long_reported_ = false;
};

}  // namespace hopscope::smtp
