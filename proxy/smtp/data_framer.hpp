#pragma once
// Frames message content on the client stream: DATA (RFC 5321 §4.1.1.4, dot-terminated,
// dot-stuffed per §4.5.2) and BDAT (RFC 3030, length-counted chunks, no stuffing, a lone "."
// is data). Sans-I/O; never throws on input. It only observes: the caller relays the original
// bytes; the framer emits a copy of the content as the recipient gets it (stuffing dots and
// the final ".CRLF" removed), in pieces as large as the bytes fed.
//
// The end of DATA is CRLF "." CRLF and nothing else (strict RFC 5321). Sequences that lenient
// receivers take as the end — <LF>.<LF>, <LF>.<CR><LF>, <CR><LF>.<LF>, and a dot line ended by
// two or more CRs then LF (<LF>.<CR><CR><LF>: Postfix strips every CR before a line's LF) — are
// reported as AmbiguousEndOfData and treated as content (SMTP smuggling,
// CVE-2023-51764/51765/51766).
// Known limitation: bare-CR variants (<CR>.<CR>) are not reported.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "proxy/smtp/fifo.hpp"

namespace hopscope::smtp {

enum class Transfer { data, bdat };

[[nodiscard]] const char* to_string(Transfer transfer);

// A piece of content, unstuffed (as the recipient gets it). Piece boundaries follow the feeds.
struct MessageContent {
  std::string bytes;
  friend bool operator==(const MessageContent&, const MessageContent&) = default;
};

// The final "." line was seen (DATA) or the BDAT LAST chunk consumed.
struct MessageEnd {
  Transfer transfer = Transfer::data;
  std::uint64_t wire_bytes = 0;  // bytes on the wire: DATA incl. stuffing and ".CRLF"; BDAT chunks
  std::uint64_t content_bytes = 0;  // sum of the MessageContent sizes
  bool complete = true;             // false when held bytes had to be dropped (pending_overflow)
  friend bool operator==(const MessageEnd&, const MessageEnd&) = default;
};

// Raw wire bytes (up to 32) ending with the ambiguous sequence.
struct AmbiguousEndOfData {
  std::string evidence;
  friend bool operator==(const AmbiguousEndOfData&, const AmbiguousEndOfData&) = default;
};

using FramerEvent = std::variant<MessageContent, MessageEnd, AmbiguousEndOfData>;

class DataFramer {
 public:
  // After the 354 reply to DATA: content starts at a line start.
  void start_data();
  // After a "BDAT size [LAST]" line: exactly `size` bytes follow (RFC 3030 §2), whatever the
  // reply. Chunks of one message accumulate until LAST (or reset()).
  void start_bdat(std::uint64_t size, bool last);
  // Bytes of this message were lost before reaching the framer: the message is incomplete and
  // the line position unknown.
  void mark_gap();
  // Forget a BDAT message left without LAST (RSET, MAIL, EHLO).
  void reset();

  // True while inside DATA content or a BDAT chunk.
  [[nodiscard]] bool active() const { return active_; }

  // Consumes the bytes that belong to the message and returns how many; the rest (after the
  // final ".CRLF" or the end of the chunk) belongs to the command stream.
  std::size_t feed(std::string_view bytes);

  // Outcomes: MessageContent, AmbiguousEndOfData, MessageEnd; nullopt when none is pending.
  [[nodiscard]] std::optional<FramerEvent> next();

 private:
  enum class State {
    line_start,
    lf_start,
    mid,
    crlf_dot,
    crlf_dot_cr,
    lf_dot,
    lf_dot_cr,
    dot_crs,  // a line's "." then two or more CRs: content, ambiguous if a LF follows
  };

  std::size_t feed_data(std::string_view in);
  void flush();
  void finish();
  void ambiguous(std::string_view in, std::size_t last_index);

  Fifo<FramerEvent> out_;
  std::string piece_;
  std::string tail_;  // last wire bytes of earlier feeds, for evidence
  Transfer transfer_ = Transfer::data;
  State state_ = State::line_start;
  char prev_ = 0;  // the last wire byte consumed
  bool active_ = false;
  bool message_open_ = false;
  bool last_chunk_ = false;
  bool complete_ = true;
  std::uint64_t chunk_left_ = 0;
  std::uint64_t wire_bytes_ = 0;
  std::uint64_t content_bytes_ = 0;
};

}  // namespace hopscope::smtp
