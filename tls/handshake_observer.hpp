#pragma once
// Passive observer of one TLS connection in passthrough mode: the session relays the bytes
// unmodified and feeds COPIES of each direction here, in arrival order. Records what can be
// read in clear (RFC 8446, RFC 5246): the ClientHello's offers, ServerHello and
// HelloRetryRequest, both Certificate chains and CertificateRequest in TLS ≤ 1.2, alerts sent
// in clear, resumption; afterwards it only counts application-data records.
//
// Sans-I/O and standard library only: no sockets, clocks, logs or OpenSSL (certificate DER
// goes out raw; tls/certificate_reader turns it into CertificateFacts). Never throws on
// network bytes, never reads out of bounds; memory is bounded by the caps in
// record_parser.hpp. What it cannot parse becomes TlsFacts::parse_error, never a guess.
//
// Known limitation: in TLS 1.3 encrypted handshake messages, alerts and application data
// share the outer content type 23, so the app counters rest on record sizes and order:
//  - the client's encrypted handshake flight (RFC 8446 §4.4: Finished, or Certificate +
//    CertificateVerify + Finished when the server's encrypted CertificateRequest asked for
//    one; one record each, several, or coalesced in one) is every client record from its
//    first one up to and including the first of Finished size (4 + hash length + 1 + AEAD
//    tag, unpadded), up to max_client_flight_records, and never past the first server record
//    seen after the client's first one (the server answers only after the client's Finished,
//    which the relay read and fed here before it could answer: RFC 8446 §4.6.1 tickets, or an
//    SMTP reply). A padded Finished or a coalesced flight thus ends at that server record, and
//    a command the sender wrote before it may be taken for the flight;
//  - the server's encrypted records before the client's first one are its handshake flight
//    (its NewSessionTickets are counted);
//  - a record of alert size (2 + 1 + AEAD tag bytes: 19, or 11 with CCM_8) is an encrypted
//    alert (close_notify), as alerts are never counted in TLS ≤ 1.2 either; the first one
//    also says which side ended TLS first (TlsFacts::first_encrypted_alert).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/facts.hpp"
#include "tls/record_parser.hpp"

namespace hopscope::tls {

// facts.hpp PlaintextEvidence: "at most 256 bytes, raw".
inline constexpr std::size_t max_plaintext_evidence_bytes = 256;
// Certificates kept per chain. RFC 5246 §7.4.2 sets no limit; real chains hold 2-4 (OpenSSL
// verifies at most 100 deep by default). Without a cap, 256 KiB of 4-byte entries from a
// hostile peer became 65535 certificates to read and write into the audit document.
// A chain cut here may lack the issuer its verification needs: tls/verify.cpp then says "not
// verified", never "untrusted", for any chain this long.
inline constexpr std::size_t max_chain_certificates = 16;
// Client records a TLS 1.3 client handshake flight may take (see above): Certificate (a chain
// of up to 16 KiB needs 1-2 records, 2^14 bytes each, RFC 8446 §5.1), CertificateVerify,
// Finished, with room for a sender that writes smaller records.
inline constexpr std::size_t max_client_flight_records = 8;

// Whether an alert ends the handshake: level fatal, or (TLS 1.3 lets the level be ignored,
// RFC 8446 §6) any alert but those that may be warnings: close_notify, user_canceled,
// no_renegotiation, unrecognized_name.
[[nodiscard]] bool ends_handshake(std::uint8_t level, std::uint8_t description);
[[nodiscard]] bool alert_ends_handshake(const AlertFacts& alert);

// What was seen; the session copies it into hopscope::TlsFacts.
struct Observation {
  // Every field the wire shows, except the certificate facts (filled from the DER below).
  hopscope::TlsFacts facts;
  std::vector<std::string> server_chain_der;  // raw DER of each certificate, in order (≤ 1.2)
  std::vector<std::string> client_chain_der;
  // The server's certificate_list held more than max_chain_certificates: the chain above is
  // its first ones only (Verifier::verify's `chain_cut`).
  bool server_chain_cut = false;
  // A direction whose first bytes were not a TLS record (RFC 3207 §4.2, CVE-2011-0411
  // class): its byte count and first bytes, raw (the audit writer escapes them). That
  // direction is then not parsed any further.
  std::optional<hopscope::PlaintextEvidence> client_plaintext;
  std::optional<hopscope::PlaintextEvidence> server_plaintext;
};

class HandshakeObserver {
 public:
  void feed_client(std::string_view bytes);
  void feed_server(std::string_view bytes);
  [[nodiscard]] const Observation& observation() const { return observation_; }
  // Both directions are past the readable part of the handshake: TLS 1.3 once the
  // ServerHello is in; TLS ≤ 1.2 once each side has sent ChangeCipherSpec.
  [[nodiscard]] bool handshake_complete() const;

 private:
  enum class Side { client, server };
  enum class Phase { sniffing, records, plaintext, lost };

  struct Direction {
    Phase phase = Phase::sniffing;
    std::string first_bytes;  // up to max_plaintext_evidence_bytes, for sniffing and evidence
    std::uint64_t total_bytes = 0;
    RecordParser records;
    HandshakeAssembler handshake;
    bool parsing = true;          // handshake records are readable and wanted
    bool encrypted = false;       // a ChangeCipherSpec switched this direction's keys (TLS ≤ 1.2)
    bool sent_encrypted = false;  // sent an application_data-typed record
  };

  void feed(Side side, std::string_view bytes);
  void on_record(Side side, const Record& record);
  void on_change_cipher_spec(Side side);
  void on_alert(Side side, const Record& record);
  void on_application_data(Side side, const Record& record);
  void note_encrypted_alert(Side side);
  void on_handshake_message(Side side, const HandshakeMessage& message);
  void on_client_hello(std::string_view body);
  void on_server_hello(std::string_view body);
  void on_certificate(Side side, std::string_view body);
  void stop_parsing(Side side);
  void fail(Side side, const std::string& what);
  void check_session_id_resumption();
  Direction& direction(Side side) { return side == Side::client ? client_ : server_; }

  Direction client_;
  Direction server_;
  Observation observation_;
  bool client_hello_seen_ = false;
  bool hello_retry_request_seen_ = false;
  bool server_hello_seen_ = false;  // the final ServerHello, not an HRR
  std::uint16_t negotiated_version_ = 0;
  std::string client_session_id_;
  std::string server_session_id_;
  bool server_certificate_seen_ = false;
  bool server_hello_done_seen_ = false;
  bool server_parse_failed_ = false;  // the server's flight was not fully seen
  // TLS 1.3 rule of thumb, see above: the client's encrypted handshake flight is still due.
  bool client_flight_open_ = false;
  std::size_t client_flight_records_ = 0;
};

}  // namespace hopscope::tls
