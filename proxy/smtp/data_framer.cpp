#include "proxy/smtp/data_framer.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#if defined(__SSE2__)
#  include <emmintrin.h>
#endif

namespace hopscope::smtp {
namespace {

constexpr std::size_t evidence_bytes = 32;

// The first LF at or after `from` that is followed by a dot or is the last byte of `in`
// (the next feed decides what follows it); in.size() if there is none. Only such a LF can
// change the framing state. A body has one LF per line and lines are short (smtp-source's
// are 19 bytes, base64 76), so this looks at 16 bytes per step instead of one memchr per line.
std::size_t find_lf_before_dot_or_end(std::string_view in, std::size_t from) {
  const std::size_t size = in.size();
  std::size_t i = from;
#if defined(__SSE2__)
  const __m128i lf = _mm_set1_epi8('\n');
  const __m128i dot = _mm_set1_epi8('.');
  for (; i + 16 < size; i += 16) {
    // Byte k of `here` is in[i + k], of `after` in[i + k + 1]: both loads stay inside `in`.
    const __m128i here = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in.data() + i));
    const __m128i after = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in.data() + i + 1));
    const int hits =
        _mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(here, lf), _mm_cmpeq_epi8(after, dot)));
    if (hits != 0) {
      return i + static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(hits)));
    }
  }
#endif
  while (i < size) {
    const void* hit = std::memchr(in.data() + i, '\n', size - i);
    if (hit == nullptr) {
      return size;
    }
    const auto at = static_cast<std::size_t>(static_cast<const char*>(hit) - in.data());
    if (at + 1 == size || in[at + 1] == '.') {
      return at;
    }
    i = at + 1;
  }
  return size;
}

}  // namespace

const char* to_string(Transfer transfer) {
  return transfer == Transfer::data ? "DATA" : "BDAT";
}

void DataFramer::start_data() {
  transfer_ = Transfer::data;
  state_ = State::line_start;
  prev_ = 0;
  tail_.clear();
  active_ = true;
  message_open_ = true;
  complete_ = true;
  wire_bytes_ = 0;
  content_bytes_ = 0;
}

void DataFramer::start_bdat(std::uint64_t size, bool last) {
  if (!message_open_ || transfer_ != Transfer::bdat) {
    message_open_ = true;
    complete_ = true;
    wire_bytes_ = 0;
    content_bytes_ = 0;
  }
  transfer_ = Transfer::bdat;
  chunk_left_ = size;
  last_chunk_ = last;
  active_ = true;
  if (size == 0) {
    // RFC 3030 §2: "BDAT 0 LAST" ends a message with no further bytes.
    active_ = false;
    if (last) {
      finish();
    }
  }
}

void DataFramer::mark_gap() {
  complete_ = false;
  state_ = State::mid;
  prev_ = 0;
}

void DataFramer::reset() {
  flush();
  active_ = false;
  message_open_ = false;
}

std::size_t DataFramer::feed(std::string_view bytes) {
  if (!active_ || bytes.empty()) {
    return 0;
  }
  if (transfer_ == Transfer::data) {
    const std::size_t used = feed_data(bytes);
    flush();
    return used;
  }
  const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_left_, bytes.size()));
  piece_.append(bytes.substr(0, n));
  chunk_left_ -= n;
  wire_bytes_ += n;
  content_bytes_ += n;
  flush();
  if (chunk_left_ == 0) {
    active_ = false;
    if (last_chunk_) {
      finish();
    }
  }
  return n;
}

std::size_t DataFramer::feed_data(std::string_view in) {
  std::size_t i = 0;
  while (i < in.size() && active_) {
    const char b = in[i];
    switch (state_) {
      case State::mid: {
        // Hot path: copy in one go through the first LF that is the last byte so far or is
        // followed by a dot. A line that starts with anything else is plain content, so the
        // lines in between need no state change (line_start/lf_start would go straight back
        // to mid).
        const std::size_t lf = find_lf_before_dot_or_end(in, i);
        const bool line_ended = lf < in.size();
        const std::size_t end = line_ended ? lf + 1 : in.size();
        piece_.append(in.substr(i, end - i));
        if (line_ended) {
          const char before = end - 1 > i ? in[end - 2] : prev_;
          state_ = before == '\r' ? State::line_start : State::lf_start;
        }
        prev_ = in[end - 1];
        i = end;
        continue;
      }
      case State::line_start:
        if (b == '.') {
          // RFC 5321 §4.5.2: the first "." of a line is removed (or ends the data).
          state_ = State::crlf_dot;
          prev_ = b;
          ++i;
        } else {
          state_ = State::mid;
        }
        continue;
      case State::lf_start:
        if (b == '.') {
          piece_ += b;
          state_ = State::lf_dot;
          prev_ = b;
          ++i;
        } else {
          state_ = State::mid;
        }
        continue;
      case State::crlf_dot:
        if (b == '\r') {
          state_ = State::crlf_dot_cr;  // the CR is held until the next byte decides
          prev_ = b;
          ++i;
        } else if (b == '\n') {
          piece_ += b;
          ambiguous(in, i);  // <CR><LF>.<LF>
          state_ = State::lf_start;
          prev_ = b;
          ++i;
        } else {
          state_ = State::mid;
        }
        continue;
      case State::crlf_dot_cr:
        if (b == '\n') {
          ++i;
          wire_bytes_ += i;
          finish();
          tail_.clear();
          return i;
        }
        piece_ += '\r';
        // A second CR is not the end here, but may be one for a lenient receiver.
        state_ = b == '\r' ? State::dot_crs : State::mid;
        continue;
      case State::lf_dot:
        if (b == '\r') {
          piece_ += b;
          state_ = State::lf_dot_cr;
          prev_ = b;
          ++i;
        } else if (b == '\n') {
          piece_ += b;
          ambiguous(in, i);  // <LF>.<LF>
          state_ = State::lf_start;
          prev_ = b;
          ++i;
        } else {
          state_ = State::mid;
        }
        continue;
      case State::lf_dot_cr:
        if (b == '\n') {
          piece_ += b;
          ambiguous(in, i);  // <LF>.<CR><LF>
          state_ = State::line_start;
          prev_ = b;
          ++i;
        } else {
          state_ = b == '\r' ? State::dot_crs : State::mid;
        }
        continue;
      case State::dot_crs:
        // A dot line's "." then two or more CRs (the first already consumed), entered without
        // consuming the second. Postfix strips every CR before the LF that ends a line
        // (smtpd_forbid_bare_newline = no), so ".<CR><CR><LF>" ends its DATA: content here
        // (RFC 5321 §4.1.1.4 ends only at <CR><LF>.<CR><LF>), reported as ambiguous.
        if (b == '\r') {
          piece_ += b;
          prev_ = b;
          ++i;
        } else if (b == '\n') {
          piece_ += b;
          ambiguous(in, i);  // <LF>.<CR><CR>...<LF>
          state_ = State::line_start;
          prev_ = b;
          ++i;
        } else {
          state_ = State::mid;
        }
        continue;
    }
  }
  wire_bytes_ += i;
  tail_.append(in.substr(i > evidence_bytes ? i - evidence_bytes : 0, std::min(i, evidence_bytes)));
  if (tail_.size() > evidence_bytes) {
    tail_.erase(0, tail_.size() - evidence_bytes);
  }
  return i;
}

void DataFramer::ambiguous(std::string_view in, std::size_t last_index) {
  std::string evidence = tail_;
  const std::size_t n = last_index + 1;
  evidence.append(
      in.substr(n > evidence_bytes ? n - evidence_bytes : 0, std::min(n, evidence_bytes)));
  if (evidence.size() > evidence_bytes) {
    evidence.erase(0, evidence.size() - evidence_bytes);
  }
  flush();
  out_.emplace_back(AmbiguousEndOfData{std::move(evidence)});
}

void DataFramer::flush() {
  if (!piece_.empty()) {
    content_bytes_ += transfer_ == Transfer::data ? piece_.size() : 0;
    out_.emplace_back(MessageContent{std::move(piece_)});
    piece_.clear();
  }
}

void DataFramer::finish() {
  flush();
  out_.emplace_back(MessageEnd{transfer_, wire_bytes_, content_bytes_, complete_});
  active_ = false;
  message_open_ = false;
}

std::optional<FramerEvent> DataFramer::next() {
  if (out_.empty()) {
    return std::nullopt;
  }
  FramerEvent event = std::move(out_.front());
  out_.pop_front();
  return event;
}

}  // namespace hopscope::smtp
