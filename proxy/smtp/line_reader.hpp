#pragma once
// Splits SMTP bytes into lines (RFC 5321 §2.3.8). Sans-I/O: no sockets, clocks or logs.
// Reports bare LF and over-long lines; never repairs them and never throws on input.
// Memory is bounded by max_line_bytes (plus what the caller feeds before calling next()).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace hopscope::smtp {

enum class LineEnding { crlf, bare_lf };

// One complete line. `text` excludes the ending; any other byte (NUL, bare CR, non-UTF-8) is kept.
struct Line {
  std::string text;
  LineEnding ending = LineEnding::crlf;
  friend bool operator==(const Line&, const Line&) = default;
};

// A line whose text exceeded `limit` bytes. Reported as soon as that is certain; the rest of
// the line, up to and including its LF, is then skipped. `prefix` holds its first `limit` bytes.
struct LineTooLong {
  std::size_t limit = 0;
  std::string prefix;
  friend bool operator==(const LineTooLong&, const LineTooLong&) = default;
};

using LineEvent = std::variant<Line, LineTooLong>;

class LineReader {
 public:
  // max_line_bytes: the longest line text (without CRLF / LF) accepted as a Line.
  explicit LineReader(std::size_t max_line_bytes);

  void feed(std::string_view bytes);

  // Outcomes:
  //  @li Line: a complete line (CRLF or bare LF).
  //  @li LineTooLong: a line longer than the limit (its tail is skipped silently).
  //  @li nullopt: need more bytes.
  // Lazy: bytes after the returned line are not examined, so a caller may switch to another
  // framing (DATA, BDAT, TLS) and take them with take_buffered().
  [[nodiscard]] std::optional<LineEvent> next();

  // Bytes after the last line returned (STARTTLS evidence, pipelined commands).
  [[nodiscard]] std::size_t buffered() const { return buffer_.size() - pos_; }

  // Removes and returns the buffered bytes; the reader starts afresh at a line start, except
  // inside an over-long line already reported: the rest of that line is never returned, and
  // if its LF has not arrived yet, the reader goes on skipping up to it.
  [[nodiscard]] std::string take_buffered();

  [[nodiscard]] std::size_t max_line_bytes() const { return max_line_bytes_; }

 private:
  void compact();

  std::size_t max_line_bytes_;
  std::string buffer_;
  std::size_t pos_ = 0;      // start of the unread bytes in buffer_
  std::size_t scanned_ = 0;  // bytes after pos_ known to hold no LF
  bool skipping_ = false;    // inside an over-long line already reported
};

}  // namespace hopscope::smtp
