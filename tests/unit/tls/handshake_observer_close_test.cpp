// What the passive observer counts after the handshake, and which side it says ended TLS first
// (TlsFacts::first_encrypted_alert), on real handshakes: an OpenSSL client and server talk
// through memory BIOs in this process, and every byte each one writes is both handed to the
// other and recorded, in order, as the relay would feed the observer. Covers the TLS 1.3
// client flight with and without a client certificate (SENDER_ABANDONED_AFTER_TLS reads
// client_app_records), every TLS 1.3 suite's Finished size, and close_notify in TLS 1.2
// (content type 21) and 1.3 (alert-sized application_data).

#include <cstdint>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include "test_certificates.hpp"
#include "tls/handshake_observer.hpp"

namespace hopscope::tls {
namespace {

namespace t = testing;

struct Chunk {
  bool from_client = false;
  std::string bytes;
};

struct Options {
  int version = TLS1_3_VERSION;
  bool request_client_cert = false;  // the server sends CertificateRequest
  bool client_has_cert = false;
  int tickets = 2;            // NewSessionTickets the TLS 1.3 server sends (OpenSSL's default)
  std::string ciphersuite{};  // TLS 1.3 suite both sides allow; empty: OpenSSL's defaults
  std::size_t client_block_padding = 0;  // RFC 8446 §5.4 padding of the client's records
};

const t::Issued& client_certificate() {
  static const t::Issued issued = t::issue({.subject = t::contoso("mail.protection.outlook.com"),
                                            .san = {"DNS:mail.protection.outlook.com"},
                                            .serial_hex = "4242",
                                            .key = "EC-P256#exchange-online"},
                                           &t::contoso_pki().intermediate);
  return issued;
}

// One client and one server, connected through memory BIOs. Every write of either side is
// moved to the other at once and appended to chunks(), so chunks() is the arrival order a
// relay sees.
class Conversation {
 public:
  explicit Conversation(const Options& options) {
    client_ctx_.reset(SSL_CTX_new(TLS_client_method()));
    server_ctx_.reset(SSL_CTX_new(TLS_server_method()));
    for (SSL_CTX* ctx : {client_ctx_.get(), server_ctx_.get()}) {
      SSL_CTX_set_min_proto_version(ctx, options.version);
      SSL_CTX_set_max_proto_version(ctx, options.version);
      if (!options.ciphersuite.empty()) {
        EXPECT_EQ(SSL_CTX_set_ciphersuites(ctx, options.ciphersuite.c_str()), 1);
      }
    }
    const auto& pki = t::contoso_pki();
    EXPECT_EQ(SSL_CTX_use_certificate(server_ctx_.get(), pki.leaf.cert.get()), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey(server_ctx_.get(), pki.leaf.key.get()), 1);
    SSL_CTX_set_num_tickets(server_ctx_.get(), static_cast<std::size_t>(options.tickets));
    if (options.request_client_cert) {
      // Any certificate, or none: what is on the wire matters here, not its validation.
      SSL_CTX_set_verify(server_ctx_.get(), SSL_VERIFY_PEER,
                         [](int, X509_STORE_CTX*) { return 1; });
    }
    SSL_CTX_set_verify(client_ctx_.get(), SSL_VERIFY_NONE, nullptr);
    if (options.client_has_cert) {
      EXPECT_EQ(SSL_CTX_use_certificate(client_ctx_.get(), client_certificate().cert.get()), 1);
      EXPECT_EQ(SSL_CTX_use_PrivateKey(client_ctx_.get(), client_certificate().key.get()), 1);
    }
    if (options.client_block_padding > 0) {
      EXPECT_EQ(SSL_CTX_set_block_padding(client_ctx_.get(), options.client_block_padding), 1);
    }
    client_.reset(SSL_new(client_ctx_.get()));
    server_.reset(SSL_new(server_ctx_.get()));
    connect(client_.get(), client_in_, client_out_);
    connect(server_.get(), server_in_, server_out_);
    SSL_set_connect_state(client_.get());
    SSL_set_accept_state(server_.get());
  }

  // Both sides run the handshake to its end: the client's last flight, then what the server
  // sends after reading it (its NewSessionTickets in TLS 1.3).
  void handshake() {
    bool client_done = false;
    bool server_done = false;
    for (int round = 0; round < 10 && !(client_done && server_done); ++round) {
      client_done = client_done || SSL_do_handshake(client_.get()) == 1;
      move_from_client();
      server_done = server_done || SSL_do_handshake(server_.get()) == 1;
      move_from_server();
    }
    ASSERT_TRUE(client_done && server_done) << "handshake did not finish";
  }

  void client_writes(std::string_view line) {
    ASSERT_EQ(SSL_write(client_.get(), line.data(), static_cast<int>(line.size())),
              static_cast<int>(line.size()));
    move_from_client();
  }

  void server_writes(std::string_view line) {
    ASSERT_EQ(SSL_write(server_.get(), line.data(), static_cast<int>(line.size())),
              static_cast<int>(line.size()));
    move_from_server();
  }

  // Reads what arrived (and, for the server, answers a close_notify with its own).
  std::string server_reads() {
    return read(server_.get(), [this] { move_from_server(); });
  }
  std::string client_reads() {
    return read(client_.get(), [this] { move_from_client(); });
  }

  void client_sends_close_notify() {
    SSL_shutdown(client_.get());
    move_from_client();
  }
  void server_sends_close_notify() {
    SSL_shutdown(server_.get());
    move_from_server();
  }

  [[nodiscard]] const std::vector<Chunk>& chunks() const { return chunks_; }
  [[nodiscard]] std::string negotiated_suite() const {
    return SSL_CIPHER_get_name(SSL_get_current_cipher(client_.get()));
  }

 private:
  struct CtxFree {
    void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
  };
  struct SslFree {
    void operator()(SSL* p) const { SSL_free(p); }
  };

  static void connect(SSL* ssl, BIO*& in, BIO*& out) {
    in = BIO_new(BIO_s_mem());
    out = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl, in, out);  // the SSL owns both
  }

  static std::string drain(BIO* bio) {
    std::string out;
    char buffer[4096];
    int n = 0;
    while ((n = BIO_read(bio, buffer, sizeof buffer)) > 0) {
      out.append(buffer, static_cast<std::size_t>(n));
    }
    return out;
  }

  void move_from_client() { move(client_out_, server_in_, true); }
  void move_from_server() { move(server_out_, client_in_, false); }

  void move(BIO* from, BIO* to, bool from_client) {
    const std::string bytes = drain(from);
    if (bytes.empty()) {
      return;
    }
    BIO_write(to, bytes.data(), static_cast<int>(bytes.size()));
    chunks_.push_back({from_client, bytes});
  }

  template <typename Flush>
  static std::string read(SSL* ssl, Flush flush) {
    std::string out;
    char buffer[4096];
    while (true) {
      const int n = SSL_read(ssl, buffer, sizeof buffer);
      if (n > 0) {
        out.append(buffer, static_cast<std::size_t>(n));
        continue;
      }
      if (SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN) {
        SSL_shutdown(ssl);  // RFC 8446 §6.1: answer close_notify with close_notify
      }
      break;
    }
    flush();
    return out;
  }

  std::unique_ptr<SSL_CTX, CtxFree> client_ctx_;
  std::unique_ptr<SSL_CTX, CtxFree> server_ctx_;
  std::unique_ptr<SSL, SslFree> client_;
  std::unique_ptr<SSL, SslFree> server_;
  BIO* client_in_ = nullptr;  // owned by client_
  BIO* client_out_ = nullptr;
  BIO* server_in_ = nullptr;  // owned by server_
  BIO* server_out_ = nullptr;
  std::vector<Chunk> chunks_;
};

HandshakeObserver replay(const std::vector<Chunk>& chunks) {
  HandshakeObserver observer;
  for (const auto& chunk : chunks) {
    if (chunk.from_client) {
      observer.feed_client(chunk.bytes);
    } else {
      observer.feed_server(chunk.bytes);
    }
  }
  return observer;
}

std::string counters(const HandshakeObserver& observer) {
  const auto& f = observer.observation().facts;
  return "client " + std::to_string(f.client_app_records) + "/" +
         std::to_string(f.client_app_bytes) + " server " + std::to_string(f.server_app_records) +
         "/" + std::to_string(f.server_app_bytes) + " first_alert " + f.first_encrypted_alert +
         " error " + f.parse_error;
}

// Exchange Online after rejecting the certificate: the handshake, then close_notify (or a
// bare TCP close), no command.
std::vector<Chunk> abandoned(const Options& options, bool close_notify) {
  Conversation c(options);
  c.handshake();
  if (close_notify) {
    c.client_sends_close_notify();
    c.server_reads();
  }
  return c.chunks();
}

// A sender that talks: EHLO, the reply, QUIT, the reply, close_notify both ways.
std::vector<Chunk> talking(const Options& options) {
  Conversation c(options);
  c.handshake();
  c.client_reads();  // the NewSessionTickets, if any
  c.client_writes("EHLO mail.protection.outlook.com\r\n");
  c.server_reads();
  c.server_writes("250-mail.contoso.com Hello\r\n250 SIZE 37748736\r\n");
  c.client_reads();
  c.client_writes("QUIT\r\n");
  c.server_reads();
  c.server_writes("221 2.0.0 Bye\r\n");
  c.client_sends_close_notify();
  c.server_reads();
  return c.chunks();
}

TEST(HandshakeObserverClose, Tls13ClientCertificateFlightIsNotApplicationData) {
  // The D3 case: Certificate + CertificateVerify + Finished were counted as 2 app records.
  const auto observer = replay(
      abandoned({.request_client_cert = true, .client_has_cert = true}, /*close_notify=*/false));
  const auto& f = observer.observation().facts;
  EXPECT_EQ(f.version, "TLSv1.3");
  EXPECT_EQ(f.client_app_records, 0U) << counters(observer);
  EXPECT_EQ(f.client_app_bytes, 0U);
  EXPECT_EQ(f.server_app_records, 2U) << counters(observer);  // OpenSSL's two tickets
  EXPECT_EQ(f.first_encrypted_alert, "");                     // a bare TCP close
}

TEST(HandshakeObserverClose, Tls13FlightWithAndWithoutCertificateRequestAndCertificate) {
  struct Case {
    const char* name;
    bool request;
    bool has_cert;
  };
  for (const Case& k : {Case{"not asked", false, false}, Case{"not asked, has one", false, true},
                        Case{"asked, has none", true, false}, Case{"asked, has one", true, true}}) {
    for (const int tickets : {0, 2}) {
      const Options options{
          .request_client_cert = k.request, .client_has_cert = k.has_cert, .tickets = tickets};
      const auto silent = replay(abandoned(options, /*close_notify=*/true));
      EXPECT_EQ(silent.observation().facts.client_app_records, 0U)
          << k.name << " tickets " << tickets << ": " << counters(silent);
      EXPECT_EQ(silent.observation().facts.first_encrypted_alert, "c>s") << k.name;
      const auto talks = replay(talking(options));
      EXPECT_EQ(talks.observation().facts.client_app_records, 2U)  // EHLO and QUIT
          << k.name << " tickets " << tickets << ": " << counters(talks);
      EXPECT_EQ(talks.observation().facts.client_app_bytes,
                (34U + 17U) + (6U + 17U));  // each line + inner content type + 16-byte tag
      EXPECT_EQ(talks.observation().facts.server_app_records, 2U + static_cast<unsigned>(tickets))
          << k.name << ": " << counters(talks);
      EXPECT_EQ(talks.observation().facts.first_encrypted_alert, "c>s") << k.name;
    }
  }
}

TEST(HandshakeObserverClose, EveryTls13SuiteHasItsFinishedSize) {
  for (const std::string suite :
       {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"}) {
    const Options options{
        .request_client_cert = true, .client_has_cert = true, .tickets = 0, .ciphersuite = suite};
    Conversation c(options);
    c.handshake();
    ASSERT_EQ(c.negotiated_suite(), suite);
    // The command right behind the flight, before the server said anything: only the
    // Finished size ends the flight here.
    c.client_writes("EHLO mail.protection.outlook.com\r\n");
    c.client_sends_close_notify();
    const auto observer = replay(c.chunks());
    const auto& f = observer.observation().facts;
    EXPECT_EQ(f.client_app_records, 1U) << suite << ": " << counters(observer);
    const std::size_t tag = suite == "TLS_AES_128_CCM_8_SHA256" ? 8 : 16;
    EXPECT_EQ(f.client_app_bytes, 34U + 1U + tag) << suite;
    EXPECT_EQ(f.first_encrypted_alert, "c>s") << suite << ": " << counters(observer);
  }
}

TEST(HandshakeObserverClose, PaddedFinishedEndsTheFlightAtTheServersFirstRecord) {
  // A padded Finished has no telling size: the server's tickets, sent only once it has the
  // client's Finished, end the flight instead.
  const auto observer = replay(
      talking({.request_client_cert = true, .client_has_cert = true, .client_block_padding = 64}));
  const auto& f = observer.observation().facts;
  // EHLO, QUIT, and the close_notify: padded to 64 bytes, an alert no longer has alert size,
  // so the server's unpadded answer is taken for the first one (a known limit of the size
  // rule, tls/handshake_observer.hpp; no MTA known to us pads).
  EXPECT_EQ(f.client_app_records, 3U) << counters(observer);
  EXPECT_EQ(f.client_app_bytes, 3U * (64U + 16U)) << counters(observer);
  EXPECT_EQ(f.first_encrypted_alert, "s>c");
}

TEST(HandshakeObserverClose, PaddedFlightWithoutAnyServerRecordIsNeverApplicationData) {
  const auto observer = replay(abandoned({.request_client_cert = true,
                                          .client_has_cert = true,
                                          .tickets = 0,
                                          .client_block_padding = 64},
                                         /*close_notify=*/false));
  EXPECT_EQ(observer.observation().facts.client_app_records, 0U) << counters(observer);
}

TEST(HandshakeObserverClose, ServerClosingFirstIsSeenInTls13AndTls12) {
  for (const int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    Conversation c({.version = version});
    c.handshake();
    c.client_reads();
    c.server_sends_close_notify();
    c.client_reads();  // answers with its own
    c.client_sends_close_notify();
    const auto observer = replay(c.chunks());
    EXPECT_EQ(observer.observation().facts.first_encrypted_alert, "s>c")
        << version << ": " << counters(observer);
    EXPECT_EQ(observer.observation().facts.client_app_records, 0U) << counters(observer);
    // TLS 1.3 tickets follow the client's Finished and count; TLS 1.2's is in clear.
    EXPECT_EQ(observer.observation().facts.server_app_records, version == TLS1_3_VERSION ? 2U : 0U)
        << counters(observer);
    EXPECT_FALSE(observer.observation().facts.alert);  // encrypted: no clear alert facts
  }
}

TEST(HandshakeObserverClose, Tls12SenderCloseNotifyIsAContentType21Record) {
  // The D3 case in TLS 1.2: the sender's close_notify, then the server's answer; either TCP
  // FIN may reach the relay first, the records say who ended TLS.
  for (const bool has_cert : {false, true}) {
    const auto observer = replay(abandoned(
        {.version = TLS1_2_VERSION, .request_client_cert = true, .client_has_cert = has_cert},
        /*close_notify=*/true));
    const auto& f = observer.observation().facts;
    EXPECT_EQ(f.version, "TLSv1.2");
    EXPECT_EQ(f.first_encrypted_alert, "c>s") << counters(observer);
    EXPECT_EQ(f.client_app_records, 0U) << counters(observer);
    EXPECT_FALSE(f.alert);
    EXPECT_EQ(observer.observation().client_chain_der.size(), has_cert ? 1U : 0U);
  }
}

TEST(HandshakeObserverClose, Tls12WithoutCloseNotifyHasNoFirstAlert) {
  const auto observer = replay(abandoned({.version = TLS1_2_VERSION}, /*close_notify=*/false));
  EXPECT_EQ(observer.observation().facts.first_encrypted_alert, "");
  EXPECT_EQ(observer.observation().facts.client_app_records, 0U);
}

std::string summary(const HandshakeObserver& observer) {
  return counters(observer) + " complete " + std::to_string(observer.handshake_complete());
}

TEST(HandshakeObserverClose, SameCountsForEverySplitOneByteAtATimeAndRandomSplits) {
  const auto chunks = talking({.request_client_cert = true, .client_has_cert = true});
  const std::string whole = summary(replay(chunks));
  // One byte at a time.
  std::vector<Chunk> bytewise;
  for (const auto& chunk : chunks) {
    for (const char b : chunk.bytes) {
      bytewise.push_back({chunk.from_client, std::string(1, b)});
    }
  }
  EXPECT_EQ(summary(replay(bytewise)), whole);
  // Every split point of every chunk.
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    for (std::size_t at = 1; at < chunks[i].bytes.size(); ++at) {
      std::vector<Chunk> split(chunks.begin(), chunks.begin() + static_cast<std::ptrdiff_t>(i));
      split.push_back({chunks[i].from_client, chunks[i].bytes.substr(0, at)});
      split.push_back({chunks[i].from_client, chunks[i].bytes.substr(at)});
      split.insert(split.end(), chunks.begin() + static_cast<std::ptrdiff_t>(i) + 1, chunks.end());
      ASSERT_EQ(summary(replay(split)), whole) << "chunk " << i << " split at " << at;
    }
  }
  // Seeded random splits.
  const auto seed = std::random_device{}();
  std::cout << "seed=" << seed << "\n";
  std::mt19937 rng(seed);
  for (int round = 0; round < 50; ++round) {
    std::vector<Chunk> pieces;
    for (const auto& chunk : chunks) {
      std::size_t pos = 0;
      while (pos < chunk.bytes.size()) {
        const std::size_t n = std::uniform_int_distribution<std::size_t>(1, 300)(rng);
        pieces.push_back({chunk.from_client, chunk.bytes.substr(pos, n)});
        pos += n;
      }
    }
    ASSERT_EQ(summary(replay(pieces)), whole) << "seed " << seed << " round " << round;
  }
  EXPECT_NE(whole.find("client 2/"), std::string::npos) << whole;
}

}  // namespace
}  // namespace hopscope::tls
