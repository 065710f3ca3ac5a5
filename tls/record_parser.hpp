#pragma once
// TLS record layer (RFC 8446 §5.1, RFC 5246 §6.2) and handshake message framing (RFC 8446
// §4, RFC 5246 §7.4), for a passive observer. Sans-I/O, standard library only: no sockets,
// clocks, logs or OpenSSL. Never throws on network bytes and never reads out of bounds:
// every read goes through ByteReader. Memory is bounded by the named caps below; a peer that
// exceeds one gets an error event, never a bigger buffer.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace hopscope::tls {

// RFC 8446 §5.1 ContentType.
namespace content_type {
inline constexpr std::uint8_t change_cipher_spec = 20;
inline constexpr std::uint8_t alert = 21;
inline constexpr std::uint8_t handshake = 22;
inline constexpr std::uint8_t application_data = 23;
inline constexpr std::uint8_t heartbeat = 24;  // RFC 6520
}  // namespace content_type

// RFC 8446 §4 HandshakeType (the ones the observer looks at).
namespace handshake_type {
inline constexpr std::uint8_t client_hello = 1;
inline constexpr std::uint8_t server_hello = 2;
inline constexpr std::uint8_t new_session_ticket = 4;
inline constexpr std::uint8_t certificate = 11;
inline constexpr std::uint8_t server_key_exchange = 12;
inline constexpr std::uint8_t certificate_request = 13;
inline constexpr std::uint8_t server_hello_done = 14;
inline constexpr std::uint8_t client_key_exchange = 16;
}  // namespace handshake_type

inline constexpr std::size_t record_header_bytes = 5;  // type(1) version(2) length(2)
// RFC 5246 §6.2.3: TLSCiphertext.length MUST NOT exceed 2^14 + 2048 (RFC 8446 §5.2 lowers
// it to 2^14 + 256 for TLS 1.3; the larger bound serves every version).
inline constexpr std::size_t max_record_fragment_bytes = (std::size_t{1} << 14) + 2048;
inline constexpr std::size_t handshake_header_bytes = 4;  // type(1) length(3), RFC 8446 §4
// RFC 8446 §4.1.2 allows a ClientHello up to 2^24 - 1 bytes; like Envoy's tls_inspector we
// give up above 64 KiB (real ones are < 2 KiB, with post-quantum key shares < 4 KiB).
inline constexpr std::size_t max_client_hello_bytes = std::size_t{64} * 1024;
// RFC 5246 §7.4.2 / RFC 8446 §4.4.2 allow a certificate_list up to 2^24 - 1 bytes; 256 KiB
// holds any real chain (OpenSSL's own default max_cert_list is 100 KiB).
inline constexpr std::size_t max_certificate_message_bytes = std::size_t{256} * 1024;
// Every other handshake message (ServerHello, CertificateRequest with its CA name list,
// ServerKeyExchange, CertificateStatus, …).
inline constexpr std::size_t max_other_handshake_message_bytes = std::size_t{64} * 1024;

// The body-length cap for one handshake message type (the bytes after the 4-byte header).
std::size_t max_handshake_body_bytes(std::uint8_t type);

enum class Sniff { tls, not_tls, need_more, sslv2_hello };

// Whether `first_bytes` (the first bytes of a direction) start a TLS record: content type
// 20..24, version 0x03xx and a length of 1..max_record_fragment_bytes.
// @li tls: a plausible record header is there.
// @li not_tls: some byte already rules a record out (e.g. "EHLO", an HTTP request).
// @li need_more: fewer than 5 bytes, all consistent with a record header.
// @li sslv2_hello: an SSLv2-compatible ClientHello offering TLS (RFC 5246 Appendix E.2:
//     2-byte header with the top bit set, msg_type 1, version 3.x), which legacy clients send.
//     Not a record, not plaintext either.
Sniff sniff_record(std::string_view first_bytes);

// Bounds-checked big-endian reader over a byte span. Every accessor returns nullopt instead
// of reading past the end; a failed read consumes nothing.
class ByteReader {
 public:
  explicit ByteReader(std::string_view data) : data_(data) {}
  [[nodiscard]] std::optional<std::uint8_t> u8();
  [[nodiscard]] std::optional<std::uint16_t> u16();
  [[nodiscard]] std::optional<std::uint32_t> u24();
  [[nodiscard]] std::optional<std::string_view> bytes(std::size_t n);
  // A vector with a 1-, 2- or 3-byte length prefix (RFC 8446 §3.4).
  [[nodiscard]] std::optional<std::string_view> vector8();
  [[nodiscard]] std::optional<std::string_view> vector16();
  [[nodiscard]] std::optional<std::string_view> vector24();
  [[nodiscard]] std::size_t remaining() const { return data_.size() - pos_; }
  [[nodiscard]] bool empty() const { return remaining() == 0; }

 private:
  std::string_view data_;
  std::size_t pos_ = 0;
};

// One record. `fragment` points into the parser's buffer and stays valid until the next
// feed() or next(); it is empty when fragments are being skipped (skip_fragments()).
struct Record {
  std::uint8_t type = 0;
  std::uint16_t version = 0;
  std::uint16_t length = 0;  // the fragment length announced by the header
  std::string_view fragment;
};

// The byte stream is not (or no longer) TLS records: framing is lost for good.
struct RecordError {
  std::string what;
};

using RecordEvent = std::variant<Record, RecordError>;

// Splits one direction's bytes into records. Feed bytes as they arrive, then call next()
// until it returns nullopt (need more bytes).
// @li Record: a whole record (or, after skip_fragments(), a record header).
// @li RecordError: bad content type, version or length; reported once, after which the
//     parser ignores all further bytes.
class RecordParser {
 public:
  void feed(std::string_view bytes);
  [[nodiscard]] std::optional<RecordEvent> next();
  // From now on report each record as soon as its header is complete, with an empty
  // fragment, and drop fragment bytes without buffering them (counting only). Alert records
  // are still delivered whole: they are tiny, and in TLS 1.3 always in clear (RFC 8446 §5.1:
  // encrypted ones travel as application_data).
  void skip_fragments() { skip_fragments_ = true; }
  [[nodiscard]] bool failed() const { return failed_; }
  [[nodiscard]] std::size_t buffered() const { return buffer_.size() - pos_; }

 private:
  std::string buffer_;
  std::size_t pos_ = 0;
  std::size_t skip_ = 0;  // fragment bytes still to drop (skip_fragments mode)
  bool skip_fragments_ = false;
  bool failed_ = false;
};

// One handshake message; `body` excludes the 4-byte header and stays valid until the next
// feed() or next().
struct HandshakeMessage {
  std::uint8_t type = 0;
  std::string_view body;
};

// A handshake message announced a body larger than max_handshake_body_bytes(type).
struct HandshakeError {
  std::string what;
};

using HandshakeEvent = std::variant<HandshakeMessage, HandshakeError>;

// Joins handshake-record fragments into messages: a message may span records and a record
// may hold several messages (RFC 5246 §6.2.1, RFC 8446 §5.1).
// @li HandshakeMessage: one whole message.
// @li HandshakeError: a cap was exceeded; reported once, then all input is ignored.
class HandshakeAssembler {
 public:
  void feed(std::string_view fragment);
  [[nodiscard]] std::optional<HandshakeEvent> next();
  // True when no partial message is buffered (a record boundary is a message boundary).
  [[nodiscard]] bool at_boundary() const { return pos_ == buffer_.size(); }
  [[nodiscard]] bool failed() const { return failed_; }

 private:
  std::string buffer_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

}  // namespace hopscope::tls
