#include "tls/record_parser.hpp"

#include <algorithm>

namespace hopscope::tls {
namespace {

std::uint8_t byte_at(std::string_view s, std::size_t i) {
  return static_cast<std::uint8_t>(s[i]);
}

bool known_content_type(std::uint8_t type) {
  return type >= content_type::change_cipher_spec && type <= content_type::heartbeat;
}

// Drops the consumed prefix before new bytes arrive, so a buffer never holds more than one
// unfinished unit plus the caller's latest read.
void compact(std::string& buffer, std::size_t& pos) {
  buffer.erase(0, pos);
  pos = 0;
}

}  // namespace

std::size_t max_handshake_body_bytes(std::uint8_t type) {
  switch (type) {
    case handshake_type::client_hello:
      return max_client_hello_bytes;
    case handshake_type::certificate:
      return max_certificate_message_bytes;
    default:
      return max_other_handshake_message_bytes;
  }
}

Sniff sniff_record(std::string_view first_bytes) {
  if (first_bytes.empty()) {
    return Sniff::need_more;
  }
  if ((byte_at(first_bytes, 0) & 0x80U) != 0) {
    // RFC 5246 Appendix E.2: length(2, top bit set), msg_type 1, version 3.x.
    if (first_bytes.size() < 4) {
      return Sniff::need_more;
    }
    return byte_at(first_bytes, 2) == 0x01 && byte_at(first_bytes, 3) == 0x03 ? Sniff::sslv2_hello
                                                                              : Sniff::not_tls;
  }
  if (!known_content_type(byte_at(first_bytes, 0))) {
    return Sniff::not_tls;
  }
  if (first_bytes.size() >= 2 && byte_at(first_bytes, 1) != 0x03) {
    return Sniff::not_tls;
  }
  if (first_bytes.size() < record_header_bytes) {
    return Sniff::need_more;
  }
  const std::size_t length = (std::size_t{byte_at(first_bytes, 3)} << 8U) | byte_at(first_bytes, 4);
  if (length == 0 || length > max_record_fragment_bytes) {
    return Sniff::not_tls;
  }
  return Sniff::tls;
}

std::optional<std::uint8_t> ByteReader::u8() {
  if (remaining() < 1) {
    return std::nullopt;
  }
  return byte_at(data_, pos_++);
}

std::optional<std::uint16_t> ByteReader::u16() {
  if (remaining() < 2) {
    return std::nullopt;
  }
  const auto value =
      static_cast<std::uint16_t>((byte_at(data_, pos_) << 8U) | byte_at(data_, pos_ + 1));
  pos_ += 2;
  return value;
}

std::optional<std::uint32_t> ByteReader::u24() {
  if (remaining() < 3) {
    return std::nullopt;
  }
  const std::uint32_t value = (std::uint32_t{byte_at(data_, pos_)} << 16U) |
                              (std::uint32_t{byte_at(data_, pos_ + 1)} << 8U) |
                              byte_at(data_, pos_ + 2);
  pos_ += 3;
  return value;
}

std::optional<std::string_view> ByteReader::bytes(std::size_t n) {
  if (remaining() < n) {
    return std::nullopt;
  }
  const std::string_view out = data_.substr(pos_, n);
  pos_ += n;
  return out;
}

std::optional<std::string_view> ByteReader::vector8() {
  const std::size_t start = pos_;
  const auto n = u8();
  auto out = n ? bytes(*n) : std::nullopt;
  if (!out) {
    pos_ = start;
  }
  return out;
}

std::optional<std::string_view> ByteReader::vector16() {
  const std::size_t start = pos_;
  const auto n = u16();
  auto out = n ? bytes(*n) : std::nullopt;
  if (!out) {
    pos_ = start;
  }
  return out;
}

std::optional<std::string_view> ByteReader::vector24() {
  const std::size_t start = pos_;
  const auto n = u24();
  auto out = n ? bytes(*n) : std::nullopt;
  if (!out) {
    pos_ = start;
  }
  return out;
}

void RecordParser::feed(std::string_view bytes) {
  if (failed_) {
    return;
  }
  compact(buffer_, pos_);
  if (skip_ > 0 && buffer_.empty()) {
    const std::size_t drop = std::min(skip_, bytes.size());
    skip_ -= drop;
    bytes.remove_prefix(drop);
  }
  buffer_.append(bytes);
}

std::optional<RecordEvent> RecordParser::next() {
  if (failed_) {
    return std::nullopt;
  }
  if (skip_ > 0) {
    const std::size_t drop = std::min(skip_, buffered());
    skip_ -= drop;
    pos_ += drop;
    if (skip_ > 0) {
      return std::nullopt;
    }
  }
  if (buffered() < record_header_bytes) {
    return std::nullopt;
  }
  const std::string_view header(buffer_.data() + pos_, record_header_bytes);
  Record record;
  record.type = byte_at(header, 0);
  record.version = static_cast<std::uint16_t>((byte_at(header, 1) << 8U) | byte_at(header, 2));
  record.length = static_cast<std::uint16_t>((byte_at(header, 3) << 8U) | byte_at(header, 4));
  if (!known_content_type(record.type) || byte_at(header, 1) != 0x03 ||
      record.length > max_record_fragment_bytes) {
    failed_ = true;
    buffer_.clear();
    pos_ = 0;
    if (!known_content_type(record.type)) {
      return RecordError{"record with unknown content type " + std::to_string(record.type)};
    }
    if (byte_at(header, 1) != 0x03) {
      return RecordError{"record with version major " + std::to_string(byte_at(header, 1))};
    }
    // RFC 5246 §6.2.3: the receiver sends record_overflow.
    return RecordError{"record length " + std::to_string(record.length) + " exceeds " +
                       std::to_string(max_record_fragment_bytes)};
  }
  if (skip_fragments_ && record.type != content_type::alert) {
    pos_ += record_header_bytes;
    skip_ = record.length;
    const std::size_t drop = std::min(skip_, buffered());
    skip_ -= drop;
    pos_ += drop;
    return record;
  }
  if (buffered() < record_header_bytes + record.length) {
    return std::nullopt;
  }
  record.fragment = std::string_view(buffer_.data() + pos_ + record_header_bytes, record.length);
  pos_ += record_header_bytes + record.length;
  return record;
}

void HandshakeAssembler::feed(std::string_view fragment) {
  if (failed_) {
    return;
  }
  compact(buffer_, pos_);
  buffer_.append(fragment);
}

std::optional<HandshakeEvent> HandshakeAssembler::next() {
  if (failed_) {
    return std::nullopt;
  }
  const std::string_view rest = std::string_view(buffer_).substr(pos_);
  if (rest.size() < handshake_header_bytes) {
    return std::nullopt;
  }
  const std::uint8_t type = byte_at(rest, 0);
  const std::size_t length = (std::size_t{byte_at(rest, 1)} << 16U) |
                             (std::size_t{byte_at(rest, 2)} << 8U) | byte_at(rest, 3);
  // Checked as soon as the header is in: an oversized message is never buffered.
  if (length > max_handshake_body_bytes(type)) {
    failed_ = true;
    buffer_.clear();
    pos_ = 0;
    return HandshakeError{"handshake message type " + std::to_string(type) + " of " +
                          std::to_string(length) + " bytes exceeds the cap of " +
                          std::to_string(max_handshake_body_bytes(type))};
  }
  if (rest.size() < handshake_header_bytes + length) {
    return std::nullopt;
  }
  pos_ += handshake_header_bytes + length;
  return HandshakeMessage{type, rest.substr(handshake_header_bytes, length)};
}

}  // namespace hopscope::tls
