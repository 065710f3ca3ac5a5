#include "proxy/smtp/line_reader.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>
#include <utility>

namespace hopscope::smtp {
namespace {

constexpr std::size_t initial_capacity = 256;

}  // namespace

LineReader::LineReader(std::size_t max_line_bytes) : max_line_bytes_(max_line_bytes) {}

void LineReader::feed(std::string_view bytes) {
  compact();
  if (buffer_.capacity() < initial_capacity) {
    // Room for a few lines at once (an EHLO reply is a few hundred bytes): growing from the
    // first line's size would reallocate two or three times per session.
    buffer_.reserve(std::max(initial_capacity, buffer_.size() + bytes.size()));
  }
  buffer_.append(bytes);
}

void LineReader::compact() {
  // Drop consumed bytes once they dominate, so the buffer stays proportional to what is held.
  if (pos_ > 0 && (pos_ == buffer_.size() || pos_ >= buffer_.size() / 2)) {
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
}

std::optional<LineEvent> LineReader::next() {
  for (;;) {
    const std::size_t avail = buffer_.size() - pos_;
    const char* base = buffer_.data() + pos_;
    const void* hit =
        avail > scanned_ ? std::memchr(base + scanned_, '\n', avail - scanned_) : nullptr;
    if (skipping_) {
      if (hit == nullptr) {
        // Nothing of the skipped line needs keeping.
        pos_ = buffer_.size();
        scanned_ = 0;
        compact();
        return std::nullopt;
      }
      pos_ += static_cast<std::size_t>(static_cast<const char*>(hit) - base) + 1;
      scanned_ = 0;
      skipping_ = false;
      continue;
    }
    if (hit == nullptr) {
      scanned_ = avail;
      // Text longer than the limit is certain once limit + 1 bytes are held and they are not
      // limit bytes of text followed by the CR of a CRLF.
      const bool too_long =
          avail > max_line_bytes_ + 1 ||
          (avail == max_line_bytes_ + 1 && buffer_[pos_ + max_line_bytes_] != '\r');
      if (!too_long) {
        return std::nullopt;
      }
      LineTooLong event{max_line_bytes_, buffer_.substr(pos_, max_line_bytes_)};
      pos_ = buffer_.size();
      scanned_ = 0;
      skipping_ = true;
      compact();
      return event;
    }
    const auto lf = static_cast<std::size_t>(static_cast<const char*>(hit) - base);
    const bool crlf = lf > 0 && base[lf - 1] == '\r';
    const std::size_t text_len = crlf ? lf - 1 : lf;
    if (text_len > max_line_bytes_) {
      LineTooLong event{max_line_bytes_, buffer_.substr(pos_, max_line_bytes_)};
      pos_ += lf + 1;
      scanned_ = 0;
      return event;
    }
    Line line{std::string(base, text_len), crlf ? LineEnding::crlf : LineEnding::bare_lf};
    pos_ += lf + 1;
    scanned_ = 0;
    return line;
  }
}

std::string LineReader::take_buffered() {
  std::string_view rest(buffer_);
  rest.remove_prefix(pos_);
  if (skipping_) {
    // The rest of an over-long line already reported is nobody's to parse (a SASL response
    // cut at the limit must not come back as a command): up to its LF it stays skipped,
    // here or when it arrives.
    const auto lf = rest.find('\n');
    if (lf == std::string_view::npos) {
      rest = {};
    } else {
      rest.remove_prefix(lf + 1);
      skipping_ = false;
    }
  }
  std::string taken(rest);
  buffer_.clear();
  pos_ = 0;
  scanned_ = 0;
  return taken;
}

}  // namespace hopscope::smtp
