#include "tls/handshake_observer.hpp"

#include <algorithm>
#include <variant>

#include "tls/client_hello.hpp"
#include "tls/names.hpp"
#include "tls/server_hello.hpp"

namespace hopscope::tls {
namespace {

constexpr std::uint16_t tls13 = 0x0304;

// RFC 8446 §B.4: TLS_AES_128_CCM_8_SHA256 has an 8-byte tag, every other suite 16.
std::size_t tls13_tag_bytes(std::uint16_t cipher_suite) {
  constexpr std::uint16_t aes_128_ccm_8_sha256 = 0x1305;
  return cipher_suite == aes_128_ccm_8_sha256 ? 8 : 16;
}

// RFC 8446 §5.2: an encrypted alert is its 2 bytes + the inner content type + the AEAD tag.
// No SMTP line fits in that ("QUIT\r\n" needs 6 + 1 + tag, ".\r\n" 3 + 1 + tag).
std::size_t tls13_alert_record_bytes(std::uint16_t cipher_suite) {
  return 2 + 1 + tls13_tag_bytes(cipher_suite);
}

// RFC 8446 §4.4.4: Finished is a 4-byte header + verify_data of the suite's hash length
// (SHA-384 for TLS_AES_256_GCM_SHA384, SHA-256 for the others), + inner type + tag, unpadded.
std::size_t tls13_finished_record_bytes(std::uint16_t cipher_suite) {
  constexpr std::uint16_t aes_256_gcm_sha384 = 0x1302;
  const std::size_t hash = cipher_suite == aes_256_gcm_sha384 ? 48 : 32;
  return 4 + hash + 1 + tls13_tag_bytes(cipher_suite);
}

std::vector<std::string> names_without_grease(const std::vector<std::uint16_t>& values,
                                              std::string (*name)(std::uint16_t)) {
  std::vector<std::string> out;
  for (const std::uint16_t v : values) {
    if (!is_grease(v)) {
      out.push_back(name(v));
    }
  }
  return out;
}

// RFC 8701 §3 reserves ALPN identifiers of the same pattern, two bytes long.
bool is_grease_alpn(std::string_view protocol) {
  if (protocol.size() != 2) {
    return false;
  }
  const auto value = static_cast<std::uint16_t>((static_cast<std::uint8_t>(protocol[0]) << 8U) |
                                                static_cast<std::uint8_t>(protocol[1]));
  return is_grease(value);
}

}  // namespace

void HandshakeObserver::feed_client(std::string_view bytes) {
  feed(Side::client, bytes);
}

void HandshakeObserver::feed_server(std::string_view bytes) {
  feed(Side::server, bytes);
}

bool HandshakeObserver::handshake_complete() const {
  if (server_hello_seen_ && negotiated_version_ >= tls13) {
    return true;
  }
  return server_hello_seen_ && client_.encrypted && server_.encrypted;
}

void HandshakeObserver::feed(Side side, std::string_view bytes) {
  Direction& dir = direction(side);
  dir.total_bytes += bytes.size();
  if (dir.first_bytes.size() < max_plaintext_evidence_bytes) {
    dir.first_bytes.append(bytes.substr(0, max_plaintext_evidence_bytes - dir.first_bytes.size()));
  }
  if (dir.phase == Phase::plaintext) {
    auto& evidence =
        side == Side::client ? observation_.client_plaintext : observation_.server_plaintext;
    evidence->bytes = dir.total_bytes;
    evidence->first_bytes = dir.first_bytes;
    return;
  }
  if (dir.phase == Phase::lost) {
    return;
  }
  dir.records.feed(bytes);
  if (dir.phase == Phase::sniffing) {
    switch (sniff_record(dir.first_bytes)) {
      case Sniff::need_more:
        return;
      case Sniff::tls:
        dir.phase = Phase::records;
        break;
      case Sniff::sslv2_hello:
        // A legacy client's hello: legitimate, but not parsed; the server answers in TLS.
        fail(side, "SSLv2-compatible ClientHello (RFC 5246 Appendix E.2), not parsed");
        dir.phase = Phase::lost;
        dir.records = RecordParser{};
        return;
      case Sniff::not_tls:
        dir.phase = Phase::plaintext;
        dir.records = RecordParser{};  // frees what was buffered
        (side == Side::client ? observation_.client_plaintext : observation_.server_plaintext) =
            PlaintextEvidence{dir.total_bytes, dir.first_bytes};
        return;
    }
  }
  while (auto event = dir.records.next()) {
    if (const auto* error = std::get_if<RecordError>(&*event)) {
      fail(side, error->what);
      dir.phase = Phase::lost;
      return;
    }
    on_record(side, std::get<Record>(*event));
  }
}

void HandshakeObserver::on_record(Side side, const Record& record) {
  Direction& dir = direction(side);
  switch (record.type) {
    case content_type::change_cipher_spec:
      on_change_cipher_spec(side);
      return;
    case content_type::alert:
      on_alert(side, record);
      return;
    case content_type::application_data:
      on_application_data(side, record);
      return;
    case content_type::handshake:
      break;
    default:
      return;  // heartbeat: nothing to learn
  }
  observation_.facts.seen = true;
  if (!dir.parsing) {
    return;
  }
  // RFC 8446 §5.1: zero-length handshake fragments are not allowed.
  if (record.fragment.empty()) {
    fail(side, "empty handshake record");
    stop_parsing(side);
    return;
  }
  dir.handshake.feed(record.fragment);
  while (dir.parsing) {
    auto event = dir.handshake.next();
    if (!event) {
      break;
    }
    if (const auto* error = std::get_if<HandshakeError>(&*event)) {
      fail(side, error->what);
      stop_parsing(side);
      break;
    }
    on_handshake_message(side, std::get<HandshakeMessage>(*event));
  }
}

void HandshakeObserver::on_change_cipher_spec(Side side) {
  Direction& dir = direction(side);
  if (dir.encrypted) {
    return;
  }
  // RFC 8446 §D.4: in middlebox compatibility mode a TLS 1.3 client sends a dummy CCS
  // before its second flight, which after an HRR is its second ClientHello (in clear); a
  // server sends one right after its HRR. Neither changes keys.
  if (hello_retry_request_seen_ && (side == Side::client || !server_hello_seen_)) {
    return;
  }
  if (server_hello_seen_ && negotiated_version_ >= tls13) {
    return;  // compat CCS; the direction is already counting only
  }
  dir.encrypted = true;
  // RFC 5246 §7.1: after ChangeCipherSpec this side's records (its Finished) are encrypted.
  stop_parsing(side);
  // RFC 5246 §7.3: an abbreviated (resumed) handshake has the server send CCS right after
  // ServerHello, without Certificate or ServerHelloDone.
  if (side == Side::server && server_hello_seen_ && !server_certificate_seen_ &&
      !server_hello_done_seen_ && !server_parse_failed_) {
    observation_.facts.resumed = true;
  }
}

void HandshakeObserver::on_alert(Side side, const Record& record) {
  // RFC 5246 §7.2: after ChangeCipherSpec alerts are encrypted: only the content type tells
  // that this side ended TLS. TLS 1.3 encrypted alerts arrive as application_data (RFC 8446
  // §5.2) and never get here.
  if (direction(side).encrypted) {
    note_encrypted_alert(side);
    return;
  }
  if (record.fragment.size() < 2) {
    return;
  }
  const auto level = static_cast<std::uint8_t>(record.fragment[0]);
  const auto description = static_cast<std::uint8_t>(record.fragment[1]);
  // The first alert is kept, unless a warning (unrecognized_name from an SNI callback) is
  // followed by the alert that ends the handshake: that one is the fact that matters.
  if (observation_.facts.alert &&
      (alert_ends_handshake(*observation_.facts.alert) || !ends_handshake(level, description))) {
    return;
  }
  observation_.facts.alert =
      AlertFacts{side == Side::client ? "c>s" : "s>c", alert_level_name(level),
                 alert_name(description), description};
}

void HandshakeObserver::note_encrypted_alert(Side side) {
  auto& first = observation_.facts.first_encrypted_alert;
  if (first.empty()) {
    first = side == Side::client ? "c>s" : "s>c";
  }
}

void HandshakeObserver::on_application_data(Side side, const Record& record) {
  Direction& dir = direction(side);
  const bool client_sent_before = client_.sent_encrypted;
  dir.sent_encrypted = true;
  if (server_hello_seen_ && negotiated_version_ >= tls13) {
    const std::uint16_t suite = observation_.facts.cipher_id;
    // Smaller than any handshake message (4-byte header + inner type + tag) or SMTP line.
    if (record.length <= tls13_alert_record_bytes(suite)) {
      note_encrypted_alert(side);
      return;
    }
    if (side == Side::client && client_flight_open_) {
      // Certificate, CertificateVerify, Finished (RFC 8446 §4.4); the header explains the rule.
      ++client_flight_records_;
      if (record.length == tls13_finished_record_bytes(suite) ||
          client_flight_records_ >= max_client_flight_records) {
        client_flight_open_ = false;
      }
      return;
    }
    if (side == Side::server) {
      if (!client_sent_before) {
        return;  // EncryptedExtensions … Finished, before the client has finished
      }
      client_flight_open_ = false;  // the server has the client's Finished
    }
  }
  auto& facts = observation_.facts;
  if (side == Side::client) {
    ++facts.client_app_records;
    facts.client_app_bytes += record.length;
  } else {
    ++facts.server_app_records;
    facts.server_app_bytes += record.length;
  }
}

void HandshakeObserver::on_handshake_message(Side side, const HandshakeMessage& message) {
  if (side == Side::client) {
    switch (message.type) {
      case handshake_type::client_hello:
        on_client_hello(message.body);
        return;
      case handshake_type::certificate:
        on_certificate(side, message.body);
        return;
      default:
        return;
    }
  }
  switch (message.type) {
    case handshake_type::server_hello:
      on_server_hello(message.body);
      return;
    case handshake_type::certificate:
      on_certificate(side, message.body);
      return;
    case handshake_type::certificate_request:
      observation_.facts.client_certificate_requested = true;
      return;
    case handshake_type::server_hello_done:
      server_hello_done_seen_ = true;
      return;
    default:
      return;
  }
}

void HandshakeObserver::on_client_hello(std::string_view body) {
  auto parsed = parse_client_hello(body);
  if (const auto* error = std::get_if<HelloError>(&parsed)) {
    fail(Side::client, error->what);
    stop_parsing(Side::client);
    return;
  }
  if (client_hello_seen_) {
    return;  // the second ClientHello after an HRR repeats the first one's offers
  }
  client_hello_seen_ = true;
  const auto& hello = std::get<ClientHello>(parsed);
  auto& facts = observation_.facts;
  facts.sni = hello.sni;
  for (const auto& protocol : hello.alpn) {
    if (!is_grease_alpn(protocol)) {
      facts.offered_alpn.push_back(protocol);
    }
  }
  // Without supported_versions the client offers legacy_version as its highest (RFC 5246
  // §7.4.1.2); its lowest is not on the wire.
  facts.offered_versions = hello.supported_versions.empty()
                               ? std::vector<std::string>{version_name(hello.legacy_version)}
                               : names_without_grease(hello.supported_versions, version_name);
  facts.offered_ciphers = names_without_grease(hello.cipher_suites, cipher_name);
  facts.offered_groups = names_without_grease(hello.supported_groups, group_name);
  client_session_id_ = hello.session_id;
  check_session_id_resumption();
}

void HandshakeObserver::on_server_hello(std::string_view body) {
  auto parsed = parse_server_hello(body);
  if (const auto* error = std::get_if<HelloError>(&parsed)) {
    fail(Side::server, error->what);
    stop_parsing(Side::server);
    return;
  }
  const auto& hello = std::get<ServerHello>(parsed);
  auto& facts = observation_.facts;
  facts.version = version_name(hello.version);
  facts.cipher = cipher_name(hello.cipher_suite);
  facts.cipher_id = hello.cipher_suite;
  if (hello.hello_retry_request) {
    // RFC 8446 §4.1.4: the real ServerHello follows the client's second ClientHello.
    hello_retry_request_seen_ = true;
    facts.hello_retry_request = true;
    return;
  }
  if (server_hello_seen_) {
    return;
  }
  server_hello_seen_ = true;
  negotiated_version_ = hello.version;
  facts.alpn = hello.alpn;
  if (hello.version >= tls13) {
    // RFC 8446 §4.2.11: the server accepted a PSK, i.e. resumed (or external PSK).
    facts.resumed = hello.pre_shared_key_selected;
    client_flight_open_ = true;
    // RFC 8446 §2: everything after ServerHello is encrypted, in both directions.
    stop_parsing(Side::server);
    stop_parsing(Side::client);
    return;
  }
  server_session_id_ = hello.session_id;
  check_session_id_resumption();
}

void HandshakeObserver::on_certificate(Side side, std::string_view body) {
  // RFC 5246 §7.4.2 (TLS ≤ 1.2; a TLS 1.3 Certificate is always encrypted).
  ByteReader reader(body);
  const auto list = reader.vector24();
  if (!list || !reader.empty()) {
    fail(side, "malformed Certificate message");
    stop_parsing(side);
    return;
  }
  std::vector<std::string> chain;
  std::size_t entries_seen = 0;
  ByteReader entries(*list);
  while (!entries.empty()) {
    const auto der = entries.vector24();
    if (!der) {
      fail(side, "malformed certificate_list entry");
      stop_parsing(side);
      return;
    }
    if (++entries_seen <= max_chain_certificates) {
      chain.emplace_back(*der);
    }
  }
  if (entries_seen > max_chain_certificates) {
    fail(side, "certificate_list holds " + std::to_string(entries_seen) +
                   " certificates; the first " + std::to_string(max_chain_certificates) +
                   " are kept");
  }
  if (side == Side::server) {
    server_certificate_seen_ = true;
    observation_.server_chain_der = std::move(chain);
    observation_.server_chain_cut = entries_seen > max_chain_certificates;
  } else {
    observation_.client_chain_der = std::move(chain);
  }
}

void HandshakeObserver::check_session_id_resumption() {
  // RFC 5246 §7.4.1.3: a server that resumes echoes the client's (non-empty) session_id;
  // RFC 5077 §3.4: so does one that accepts a ticket.
  if (client_hello_seen_ && server_hello_seen_ && negotiated_version_ < tls13 &&
      !client_session_id_.empty() && client_session_id_ == server_session_id_) {
    observation_.facts.resumed = true;
  }
}

void HandshakeObserver::stop_parsing(Side side) {
  Direction& dir = direction(side);
  dir.parsing = false;
  dir.handshake = HandshakeAssembler{};  // frees what was buffered
  dir.records.skip_fragments();
}

void HandshakeObserver::fail(Side side, const std::string& what) {
  if (side == Side::server) {
    server_parse_failed_ = true;  // what was not seen may have been there: infer nothing
  }
  if (observation_.facts.parse_error.empty()) {
    observation_.facts.parse_error = (side == Side::client ? "c>s: " : "s>c: ") + what;
  }
}

bool ends_handshake(std::uint8_t level, std::uint8_t description) {
  constexpr std::uint8_t fatal = 2;
  constexpr std::uint8_t close_notify = 0;
  constexpr std::uint8_t user_canceled = 90;
  constexpr std::uint8_t no_renegotiation = 100;
  constexpr std::uint8_t unrecognized_name = 112;
  return level == fatal || (description != close_notify && description != user_canceled &&
                            description != no_renegotiation && description != unrecognized_name);
}

bool alert_ends_handshake(const AlertFacts& alert) {
  return ends_handshake(alert.level == "fatal" ? 2 : 1, static_cast<std::uint8_t>(alert.code));
}

}  // namespace hopscope::tls
