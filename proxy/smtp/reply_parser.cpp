#include "proxy/smtp/reply_parser.hpp"

#include <algorithm>
#include <utility>

#include "proxy/smtp/ascii.hpp"
#include "proxy/smtp/ehlo.hpp"

namespace hopscope::smtp {
namespace {

constexpr std::size_t multi_line_reserve = 16;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// RFC 5321 §4.2: Reply-code = %x32-35 %x30-35 %x30-39. Returns 0 when `line` does not start
// with such a code followed by SP, "-" or the end of the line.
int reply_code(std::string_view line) {
  if (line.size() < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' ||
      !is_digit(line[2])) {
    return 0;
  }
  if (line.size() > 3 && line[3] != ' ' && line[3] != '-') {
    return 0;
  }
  return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

// 1 to 3 digits without a leading zero unless the number is 0 (RFC 3463 §2).
std::size_t number_length(std::string_view s) {
  std::size_t n = 0;
  while (n < s.size() && n < 4 && is_digit(s[n])) {
    ++n;
  }
  if (n == 0 || n > 3 || (n > 1 && s[0] == '0')) {
    return 0;
  }
  return n;
}

}  // namespace

std::string parse_enhanced_code(std::string_view text, int code) {
  if (text.size() < 5 || code < 200 || text[0] != static_cast<char>('0' + code / 100) ||
      text[1] != '.') {
    return {};
  }
  std::size_t i = 2;
  const std::size_t subject = number_length(text.substr(i));
  if (subject == 0 || i + subject >= text.size() || text[i + subject] != '.') {
    return {};
  }
  i += subject + 1;
  const std::size_t detail = number_length(text.substr(i));
  if (detail == 0) {
    return {};
  }
  i += detail;
  if (i < text.size() && text[i] != ' ') {
    return {};
  }
  return std::string(text.substr(0, i));
}

ReplyParser::ReplyParser(std::size_t max_line_bytes, std::size_t max_reply_lines,
                         std::size_t max_reply_bytes)
    : reader_(max_line_bytes),
      max_reply_lines_(max_reply_lines),
      max_reply_bytes_(max_reply_bytes) {}

void ReplyParser::feed(std::string_view bytes) {
  reader_.feed(bytes);
}

std::optional<ReplyEvent> ReplyParser::next() {
  ReplyEvent* front = peek();
  if (front == nullptr) {
    return std::nullopt;
  }
  std::optional<ReplyEvent> event(std::in_place, std::move(*front));
  out_.pop_front();
  return event;
}

ReplyEvent* ReplyParser::peek() {
  while (out_.empty()) {
    std::optional<LineEvent> line = reader_.next();
    if (!line) {
      return nullptr;
    }
    if (auto* too_long = std::get_if<LineTooLong>(&*line)) {
      // The prefix still tells a continuation from a last line; use it and report the cut.
      std::string prefix = too_long->prefix;
      out_.emplace_back(std::move(*too_long));
      on_line(std::move(prefix));
      continue;
    }
    auto& complete = std::get<Line>(*line);
    if (complete.ending == LineEnding::bare_lf) {
      out_.emplace_back(ReplyBareLf{complete.text});
    }
    on_line(std::move(complete.text));
  }
  return &out_.front();
}

void ReplyParser::on_line(std::string text) {
  const int code = reply_code(text);
  const bool last = text.size() <= 3 || text[3] == ' ';
  auto reset = [this] {
    current_ = Reply{};
    current_bytes_ = 0;
    in_reply_ = false;
    too_long_reported_ = false;
  };
  if (code == 0 || (in_reply_ && code != current_.code)) {
    MalformedReply bad{std::move(current_.lines),
                       code == 0 ? "not a reply line (RFC 5321 4.2: a code 2xx-5xx, then SP or -)"
                                 : "reply code changed inside a multi-line reply (RFC 5321 4.2.1)"};
    bad.lines.push_back(std::move(text));
    reset();
    out_.emplace_back(std::move(bad));
    return;
  }
  if (!in_reply_) {
    in_reply_ = true;
    current_.code = code;
    if (!last) {
      // A multi-line reply (an EHLO reply has about ten lines): room for them at once rather
      // than four allocations as the vector doubles.
      current_.lines.reserve(std::min<std::size_t>(max_reply_lines_, multi_line_reserve));
    }
    current_.enhanced =
        parse_enhanced_code(text.size() > 4 ? std::string_view(text).substr(4) : "", code);
  }
  if (current_.lines.size() >= max_reply_lines_ ||
      current_bytes_ + text.size() > max_reply_bytes_) {
    // The first line is the greeting, not a capability (RFC 5321 §4.1.1.1).
    const bool keyword_line = current_.lines.size() + current_.dropped_lines > 0;
    if (keyword_line && iequals(ehlo_keyword(text), "STARTTLS")) {
      current_.dropped_starttls = true;
    }
    ++current_.dropped_lines;
    if (!too_long_reported_) {
      too_long_reported_ = true;
      out_.emplace_back(ReplyTooLong{code, max_reply_lines_, max_reply_bytes_});
    }
  } else {
    current_bytes_ += text.size();
    current_.lines.push_back(std::move(text));
  }
  if (last) {
    out_.emplace_back(std::move(current_));
    reset();
  }
}

}  // namespace hopscope::smtp
