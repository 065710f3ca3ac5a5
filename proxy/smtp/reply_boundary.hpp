#pragma once
// Whether the server-to-sender byte stream relayed so far ends exactly at the end of a whole
// reply (RFC 5321 §4.2.1: a last line "ddd<SP>…" or "ddd<CRLF>", not "ddd-…"). The relay
// may add its own "421" only there: glued to half a reply, it would turn "250 … queu" into a
// complete 250 that upstream never finished, or "2" into code 242. Sans-I/O, byte splits do
// not matter.

#include <cstddef>
#include <string_view>

namespace hopscope::smtp {

class ReplyBoundary {
 public:
  void feed(std::string_view bytes) {
    // Line by line (memchr), not byte by byte: the EHLO reply alone is a few hundred bytes.
    while (!bytes.empty()) {
      const auto newline = bytes.find('\n');
      const auto line = bytes.substr(0, newline);
      if (!line.empty()) {
        at_reply_end_ = false;
        if (line_bytes_ < 4 && line_bytes_ + line.size() >= 4) {
          fourth_ = line[3 - line_bytes_];
        }
        line_bytes_ += line.size();
      }
      if (newline == std::string_view::npos) {
        return;
      }
      // The line is over; the reply with it unless its fourth byte says "more lines".
      at_reply_end_ = !(line_bytes_ >= 4 && fourth_ == '-');
      line_bytes_ = 0;
      bytes.remove_prefix(newline + 1);
    }
  }

  // True before any byte and after the last line of a reply; false mid-line or between the
  // lines of a multi-line reply.
  [[nodiscard]] bool at_reply_end() const { return at_reply_end_; }

 private:
  bool at_reply_end_ = true;
  std::size_t line_bytes_ = 0;
  char fourth_ = 0;
};

}  // namespace hopscope::smtp
