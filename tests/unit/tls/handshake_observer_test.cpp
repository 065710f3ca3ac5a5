#include "tls/handshake_observer.hpp"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace hopscope::tls {
namespace {

// ---- captures (tests/data/tls/README.md) --------------------------------------------------

std::string read_file(const std::string& name) {
  std::ifstream in(std::string(HOPSCOPE_TEST_DATA) + "/tls/" + name, std::ios::binary);
  EXPECT_TRUE(in) << name;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Chunk {
  bool from_client = false;
  std::string bytes;
};

// NAME.chunks: [1 byte 'C' | 'S'][4 bytes big-endian length][bytes], in arrival order.
std::vector<Chunk> load_chunks(const std::string& name) {
  const std::string raw = read_file(name + ".chunks");
  std::vector<Chunk> chunks;
  std::size_t pos = 0;
  while (pos + 5 <= raw.size()) {
    std::size_t length = 0;
    for (std::size_t i = 1; i <= 4; ++i) {
      length = (length << 8U) | static_cast<std::uint8_t>(raw[pos + i]);
    }
    chunks.push_back({raw[pos] == 'C', raw.substr(pos + 5, length)});
    pos += 5 + length;
  }
  EXPECT_EQ(pos, raw.size()) << name;
  return chunks;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    out += item + ",";
  }
  return out;
}

// Every observable field, so two observations compare as strings with a readable diff.
std::string dump(const HandshakeObserver& observer) {
  const Observation& o = observer.observation();
  const TlsFacts& f = o.facts;
  std::ostringstream out;
  out << "seen=" << f.seen << " version=" << f.version.value_or("-")
      << " cipher=" << f.cipher.value_or("-") << " id=" << f.cipher_id
      << " sni=" << f.sni.value_or("-") << " alpn=" << f.alpn.value_or("-")
      << "\noffered_alpn=" << join(f.offered_alpn) << "\nversions=" << join(f.offered_versions)
      << "\nciphers=" << join(f.offered_ciphers) << "\ngroups=" << join(f.offered_groups)
      << "\nhrr=" << f.hello_retry_request << " resumed=" << f.resumed
      << " cert_req=" << f.client_certificate_requested;
  if (f.alert) {
    out << " alert=" << f.alert->direction << "/" << f.alert->level << "/" << f.alert->description
        << "/" << f.alert->code;
  }
  out << "\napp=" << f.client_app_records << "/" << f.client_app_bytes << " "
      << f.server_app_records << "/" << f.server_app_bytes << " error=" << f.parse_error
      << "\nserver_chain=" << join(o.server_chain_der)
      << "\nclient_chain=" << join(o.client_chain_der);
  if (o.client_plaintext) {
    out << "\nclient_plaintext=" << o.client_plaintext->bytes << ":"
        << o.client_plaintext->first_bytes;
  }
  if (o.server_plaintext) {
    out << "\nserver_plaintext=" << o.server_plaintext->bytes << ":"
        << o.server_plaintext->first_bytes;
  }
  out << "\ncomplete=" << observer.handshake_complete();
  return out.str();
}

void feed(HandshakeObserver& observer, bool from_client, std::string_view bytes) {
  if (from_client) {
    observer.feed_client(bytes);
  } else {
    observer.feed_server(bytes);
  }
}

HandshakeObserver replay(const std::vector<Chunk>& chunks) {
  HandshakeObserver observer;
  for (const auto& chunk : chunks) {
    feed(observer, chunk.from_client, chunk.bytes);
  }
  return observer;
}

HandshakeObserver replay_capture(const std::string& name) {
  return replay(load_chunks(name));
}

const std::vector<std::string>& capture_names() {
  static const std::vector<std::string> names = {
      "tls12_rsa", "tls12_ecdsa_chain", "tls12_client_cert",     "tls13_sni_alpn",
      "tls13_hrr", "tls12_resumed",     "alert_protocol_version"};
  return names;
}

// ---- real handshakes ----------------------------------------------------------------------

TEST(HandshakeObserver, Tls12RsaShowsVersionCipherSniAndTheServerCertificate) {
  const auto observer = replay_capture("tls12_rsa");
  const auto& o = observer.observation();
  EXPECT_TRUE(o.facts.seen);
  EXPECT_EQ(o.facts.version, "TLSv1.2");
  EXPECT_EQ(o.facts.cipher, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384");
  EXPECT_EQ(o.facts.cipher_id, 0xC030);
  EXPECT_EQ(o.facts.sni, "rsa.example.test");
  EXPECT_EQ(o.facts.offered_versions, std::vector<std::string>{"TLSv1.2"});
  EXPECT_NE(std::find(o.facts.offered_ciphers.begin(), o.facts.offered_ciphers.end(),
                      "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
            o.facts.offered_ciphers.end());
  EXPECT_NE(std::find(o.facts.offered_groups.begin(), o.facts.offered_groups.end(), "x25519"),
            o.facts.offered_groups.end());
  ASSERT_EQ(o.server_chain_der.size(), 1U);
  EXPECT_EQ(o.server_chain_der[0], read_file("rsa_leaf.der"));
  EXPECT_TRUE(o.client_chain_der.empty());
  EXPECT_FALSE(o.facts.resumed);
  EXPECT_FALSE(o.facts.hello_retry_request);
  EXPECT_FALSE(o.facts.client_certificate_requested);
  EXPECT_FALSE(o.facts.alert);  // the close_notify at the end is encrypted
  EXPECT_EQ(o.facts.parse_error, "");
  EXPECT_TRUE(observer.handshake_complete());
  EXPECT_EQ(o.facts.client_app_records, 1U);            // "EHLO client.example.test\r\n"
  EXPECT_EQ(o.facts.client_app_bytes, 26U + 8U + 16U);  // AES-GCM explicit nonce and tag
  EXPECT_EQ(o.facts.server_app_records, 1U);            // s_server -rev echoes it reversed
}

TEST(HandshakeObserver, Tls12EcdsaChainHasThreeCertificatesLeafFirst) {
  const auto observer = replay_capture("tls12_ecdsa_chain");
  const auto& o = observer.observation();
  EXPECT_EQ(o.facts.cipher, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384");
  EXPECT_EQ(o.facts.sni, "mail.example.test");
  ASSERT_EQ(o.server_chain_der.size(), 3U);
  const std::string leaf = read_file("ecdsa_leaf.der");
  EXPECT_EQ(o.server_chain_der[0].size(), leaf.size());
  EXPECT_EQ(o.server_chain_der[0], leaf);
  EXPECT_NE(o.server_chain_der[1], o.server_chain_der[2]);
  EXPECT_TRUE(observer.handshake_complete());
}

TEST(HandshakeObserver, Tls12ClientCertificateChainIsRecorded) {
  const auto observer = replay_capture("tls12_client_cert");
  const auto& o = observer.observation();
  EXPECT_TRUE(o.facts.client_certificate_requested);
  ASSERT_EQ(o.client_chain_der.size(), 2U);  // client certificate and intermediate
  EXPECT_EQ(o.client_chain_der[0], read_file("client_leaf.der"));
  ASSERT_EQ(o.server_chain_der.size(), 3U);
  EXPECT_EQ(o.server_chain_der[0], read_file("ecdsa_leaf.der"));
  EXPECT_EQ(o.server_chain_der[1], o.client_chain_der[1]);  // the same intermediate
  EXPECT_EQ(o.facts.parse_error, "");
  EXPECT_TRUE(observer.handshake_complete());
}

TEST(HandshakeObserver, Tls13ShowsSniAlpnOffersAndNoCertificates) {
  const auto observer = replay_capture("tls13_sni_alpn");
  const auto& o = observer.observation();
  EXPECT_EQ(o.facts.version, "TLSv1.3");
  EXPECT_EQ(o.facts.cipher, "TLS_AES_256_GCM_SHA384");
  EXPECT_EQ(o.facts.sni, "mail.example.test");
  EXPECT_EQ(o.facts.offered_alpn, (std::vector<std::string>{"smtp", "h2"}));
  EXPECT_FALSE(o.facts.alpn);  // in EncryptedExtensions
  EXPECT_EQ(o.facts.offered_versions, std::vector<std::string>{"TLSv1.3"});
  EXPECT_EQ(
      o.facts.offered_ciphers,
      (std::vector<std::string>{"TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
                                "TLS_AES_128_GCM_SHA256", "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"}));
  EXPECT_TRUE(o.server_chain_der.empty());  // encrypted in TLS 1.3
  EXPECT_FALSE(o.facts.resumed);
  EXPECT_FALSE(o.facts.hello_retry_request);
  EXPECT_FALSE(o.facts.alert);  // the close_notify is encrypted (content type 23)
  EXPECT_EQ(o.facts.parse_error, "");
  EXPECT_TRUE(observer.handshake_complete());
  // EHLO only: the client's Finished and its encrypted close_notify are not application data.
  EXPECT_EQ(o.facts.client_app_records, 1U);
  EXPECT_EQ(o.facts.client_app_bytes, 26U + 1U + 16U);  // inner content type and AEAD tag
}

TEST(HandshakeObserver, Tls13HelloRetryRequestIsSeenAndTheFinalServerHelloWins) {
  const auto observer = replay_capture("tls13_hrr");
  const auto& o = observer.observation();
  EXPECT_TRUE(o.facts.hello_retry_request);
  EXPECT_EQ(o.facts.version, "TLSv1.3");
  EXPECT_EQ(o.facts.cipher, "TLS_AES_256_GCM_SHA384");
  EXPECT_EQ(o.facts.offered_groups, (std::vector<std::string>{"secp256r1", "x25519"}));
  EXPECT_EQ(o.facts.parse_error, "");
  EXPECT_TRUE(observer.handshake_complete());
}

TEST(HandshakeObserver, Tls12ResumedSessionIsResumedWithoutCertificates) {
  const auto observer = replay_capture("tls12_resumed");
  const auto& o = observer.observation();
  EXPECT_TRUE(o.facts.resumed);
  EXPECT_EQ(o.facts.version, "TLSv1.2");
  EXPECT_TRUE(o.server_chain_der.empty());
  EXPECT_EQ(o.facts.parse_error, "");
  EXPECT_TRUE(observer.handshake_complete());
}

TEST(HandshakeObserver, FatalAlertInClearIsRecorded) {
  const auto observer = replay_capture("alert_protocol_version");
  const auto& o = observer.observation();
  ASSERT_TRUE(o.facts.alert);
  EXPECT_EQ(o.facts.alert->direction, "s>c");
  EXPECT_EQ(o.facts.alert->level, "fatal");
  EXPECT_EQ(o.facts.alert->description, "protocol_version");
  EXPECT_EQ(o.facts.alert->code, 70);
  EXPECT_EQ(o.facts.offered_versions, std::vector<std::string>{"TLSv1.1"});
  EXPECT_FALSE(o.facts.version);
  EXPECT_FALSE(observer.handshake_complete());
}

// ---- fragmentation ------------------------------------------------------------------------

TEST(HandshakeObserver, SameObservationForEverySplitPoint) {
  for (const auto& name : capture_names()) {
    const auto chunks = load_chunks(name);
    const std::string whole = dump(replay(chunks));
    for (std::size_t index = 0; index < chunks.size(); ++index) {
      for (std::size_t cut = 0; cut <= chunks[index].bytes.size(); ++cut) {
        HandshakeObserver observer;
        for (std::size_t i = 0; i < chunks.size(); ++i) {
          const std::string_view bytes = chunks[i].bytes;
          if (i == index) {
            feed(observer, chunks[i].from_client, bytes.substr(0, cut));
            feed(observer, chunks[i].from_client, bytes.substr(cut));
          } else {
            feed(observer, chunks[i].from_client, bytes);
          }
        }
        ASSERT_EQ(dump(observer), whole) << name << " chunk=" << index << " cut=" << cut;
      }
    }
  }
}

TEST(HandshakeObserver, SameObservationOneByteAtATime) {
  for (const auto& name : capture_names()) {
    const auto chunks = load_chunks(name);
    HandshakeObserver observer;
    for (const auto& chunk : chunks) {
      for (std::size_t i = 0; i < chunk.bytes.size(); ++i) {
        feed(observer, chunk.from_client, std::string_view(chunk.bytes).substr(i, 1));
      }
    }
    EXPECT_EQ(dump(observer), dump(replay(chunks))) << name;
  }
}

TEST(HandshakeObserver, SameObservationForRandomSplits) {
  const auto seed = std::random_device{}();
  std::cout << "seed=" << seed << "\n";
  std::mt19937 rng(seed);
  for (const auto& name : capture_names()) {
    const auto chunks = load_chunks(name);
    const std::string whole = dump(replay(chunks));
    for (int round = 0; round < 50; ++round) {
      HandshakeObserver observer;
      for (const auto& chunk : chunks) {
        std::size_t pos = 0;
        while (pos < chunk.bytes.size()) {
          const std::size_t n = std::uniform_int_distribution<std::size_t>(1, 200)(rng);
          feed(observer, chunk.from_client, std::string_view(chunk.bytes).substr(pos, n));
          pos += n;
        }
      }
      ASSERT_EQ(dump(observer), whole) << "seed=" << seed << " " << name << " round=" << round;
    }
  }
}

TEST(HandshakeObserver, TruncatedCapturesNeverCrashOrInventFacts) {
  for (const auto& name : capture_names()) {
    const auto chunks = load_chunks(name);
    const auto full = replay(chunks);
    for (std::size_t keep = 0; keep <= chunks.size(); ++keep) {
      const auto partial =
          replay(std::vector<Chunk>(chunks.begin(), chunks.begin() + static_cast<long>(keep)));
      const auto& f = partial.observation().facts;
      EXPECT_EQ(f.parse_error, "") << name << " keep=" << keep;
      if (f.version) {
        EXPECT_EQ(f.version, full.observation().facts.version) << name;
      }
      EXPECT_LE(partial.observation().server_chain_der.size(),
                full.observation().server_chain_der.size());
    }
  }
}

// ---- synthetic messages -------------------------------------------------------------------

std::string u16(std::size_t v) {
  return {static_cast<char>((v >> 8U) & 0xFFU), static_cast<char>(v & 0xFFU)};
}
std::string u24(std::size_t v) {
  return {static_cast<char>((v >> 16U) & 0xFFU), static_cast<char>((v >> 8U) & 0xFFU),
          static_cast<char>(v & 0xFFU)};
}
std::string vec8(const std::string& s) {
  return static_cast<char>(s.size()) + s;
}
std::string vec16(const std::string& s) {
  return u16(s.size()) + s;
}
std::string vec24(const std::string& s) {
  return u24(s.size()) + s;
}
std::string extension(std::uint16_t type, const std::string& data) {
  return u16(type) + vec16(data);
}

std::string handshake(std::uint8_t type, const std::string& body) {
  return static_cast<char>(type) + u24(body.size()) + body;
}

// Wraps bytes into records of at most 2^14 bytes (RFC 8446 §5.1 TLSPlaintext).
std::string records(std::uint8_t type, const std::string& payload) {
  std::string out;
  for (std::size_t pos = 0; pos < payload.size(); pos += 16384) {
    const std::string fragment = payload.substr(pos, 16384);
    out += static_cast<char>(type) + std::string("\x03\x03", 2) + vec16(fragment);
  }
  return out;
}

// A ClientHello body of exactly `body_size` bytes (when large enough), padded with the
// RFC 7685 padding extension; GREASE values sprinkled in every list.
std::string client_hello_body(std::size_t body_size = 0) {
  std::string head = u16(0x0303) + std::string(32, 'r') + vec8("");
  head += vec16(u16(0x0A0A) + u16(0x1301) + u16(0xC02F));
  head += vec8(std::string(1, '\0'));
  std::string ext = extension(0, vec16(std::string(1, '\0') + vec16("mx.example.test")));
  ext += extension(10, vec16(u16(0x2A2A) + u16(29) + u16(23)));
  ext += extension(16, vec16(vec8(std::string("\x1A\x1A", 2)) + vec8("smtp")));
  ext += extension(43, vec8(u16(0xFAFA) + u16(0x0304) + u16(0x0303)));
  const std::size_t base = head.size() + 2 + ext.size();
  if (body_size >= base + 4) {
    ext += extension(21, std::string(body_size - base - 4, '\0'));
  }
  return head + vec16(ext);
}

std::string server_hello_12() {
  return handshake(
      2, u16(0x0303) + std::string(32, 's') + vec8("") + u16(0xC02F) + std::string(1, '\0'));
}

TEST(HandshakeObserver, GreaseValuesAreLeftOut) {
  HandshakeObserver observer;
  observer.feed_client(records(22, handshake(1, client_hello_body())));
  const auto& f = observer.observation().facts;
  EXPECT_EQ(f.sni, "mx.example.test");
  EXPECT_EQ(f.offered_ciphers, (std::vector<std::string>{"TLS_AES_128_GCM_SHA256",
                                                         "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}));
  EXPECT_EQ(f.offered_groups, (std::vector<std::string>{"x25519", "secp256r1"}));
  EXPECT_EQ(f.offered_alpn, std::vector<std::string>{"smtp"});
  EXPECT_EQ(f.offered_versions, (std::vector<std::string>{"TLSv1.3", "TLSv1.2"}));
  EXPECT_EQ(f.parse_error, "");
}

TEST(HandshakeObserver, ClientHelloCapAtMinusOneAtAndPlusOne) {
  for (const std::size_t size :
       {max_client_hello_bytes - 1, max_client_hello_bytes, max_client_hello_bytes + 1}) {
    const std::string body = client_hello_body(size);
    ASSERT_EQ(body.size(), size);
    HandshakeObserver observer;
    observer.feed_client(records(22, handshake(1, body)));
    observer.feed_client(records(23, "app"));  // keeps counting either way
    const auto& f = observer.observation().facts;
    EXPECT_TRUE(f.seen);
    EXPECT_EQ(f.client_app_records, 1U) << size;
    if (size <= max_client_hello_bytes) {
      EXPECT_EQ(f.sni, "mx.example.test") << size;
      EXPECT_EQ(f.parse_error, "") << size;
    } else {
      EXPECT_FALSE(f.sni);
      EXPECT_NE(f.parse_error.find("exceeds the cap"), std::string::npos) << f.parse_error;
    }
  }
}

TEST(HandshakeObserver, CertificateCapAtMinusOneAtAndPlusOne) {
  for (const std::size_t size : {max_certificate_message_bytes - 1, max_certificate_message_bytes,
                                 max_certificate_message_bytes + 1}) {
    // certificate_list (3) + entries (3 + DER each): 4 certificates of 60000 bytes and one
    // that takes up the rest.
    std::string list;
    for (int i = 0; i < 4; ++i) {
      list += vec24(std::string(60000, static_cast<char>('a' + i)));
    }
    list += vec24(std::string(size - 3 - list.size() - 3, 'z'));
    const std::string body = vec24(list);
    ASSERT_EQ(body.size(), size);
    HandshakeObserver observer;
    observer.feed_client(records(22, handshake(1, client_hello_body())));
    observer.feed_server(records(22, server_hello_12() + handshake(11, body)));
    const auto& o = observer.observation();
    if (size <= max_certificate_message_bytes) {
      EXPECT_EQ(o.facts.parse_error, "") << size;
      ASSERT_EQ(o.server_chain_der.size(), 5U) << size;
      EXPECT_EQ(o.server_chain_der[0], std::string(60000, 'a'));
    } else {
      EXPECT_TRUE(o.server_chain_der.empty());
      EXPECT_NE(o.facts.parse_error.find("s>c"), std::string::npos) << o.facts.parse_error;
    }
    EXPECT_EQ(o.facts.version, "TLSv1.2");
  }
}

TEST(HandshakeObserver, HandshakeMessagesSplitAcrossRecordsAndCoalescedInOne) {
  HandshakeObserver observer;
  const std::string hello = handshake(1, client_hello_body());
  // Three records for one ClientHello.
  observer.feed_client(records(22, hello.substr(0, 10)) + records(22, hello.substr(10, 50)) +
                       records(22, hello.substr(60)));
  // ServerHello, Certificate and ServerHelloDone in one record.
  observer.feed_server(
      records(22, server_hello_12() + handshake(11, vec24(vec24("DER"))) + handshake(14, "")));
  const auto& o = observer.observation();
  EXPECT_EQ(o.facts.sni, "mx.example.test");
  EXPECT_EQ(o.server_chain_der, std::vector<std::string>{"DER"});
  EXPECT_EQ(o.facts.parse_error, "");
}

TEST(HandshakeObserver, PlaintextAfterStarttlsIsEvidence) {
  HandshakeObserver observer;
  observer.feed_client("EHLO x\r\n");
  observer.feed_client("MAIL FROM:<a@b>\r\n");
  observer.feed_server("250 ok\r\n");
  const auto& o = observer.observation();
  ASSERT_TRUE(o.client_plaintext);
  EXPECT_EQ(o.client_plaintext->bytes, 25U);
  EXPECT_EQ(o.client_plaintext->first_bytes, "EHLO x\r\nMAIL FROM:<a@b>\r\n");
  ASSERT_TRUE(o.server_plaintext);
  EXPECT_EQ(o.server_plaintext->bytes, 8U);
  EXPECT_FALSE(o.facts.seen);
}

TEST(HandshakeObserver, PlaintextEvidenceKeepsAtMostTheCap) {
  for (const std::size_t size : {max_plaintext_evidence_bytes - 1, max_plaintext_evidence_bytes,
                                 max_plaintext_evidence_bytes + 1}) {
    HandshakeObserver observer;
    observer.feed_client(std::string(size, 'X'));
    const auto& evidence = observer.observation().client_plaintext;
    ASSERT_TRUE(evidence);
    EXPECT_EQ(evidence->bytes, size);
    EXPECT_EQ(evidence->first_bytes.size(), std::min(size, max_plaintext_evidence_bytes));
  }
}

TEST(HandshakeObserver, HttpTextAndRandomBytesNeverCrash) {
  HandshakeObserver http;
  http.feed_client("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(http.observation().client_plaintext);
  const auto seed = std::random_device{}();
  std::cout << "seed=" << seed << "\n";
  std::mt19937 rng(seed);
  for (int round = 0; round < 300; ++round) {
    std::vector<Chunk> chunks;
    for (int feeds = 0; feeds < 6; ++feeds) {
      std::string bytes(std::uniform_int_distribution<std::size_t>(0, 400)(rng), '\0');
      for (auto& c : bytes) {
        c = static_cast<char>(rng() & 0xFFU);
      }
      if (feeds < 2 && bytes.size() > 9) {
        // A plausible record and handshake header, so deeper paths run.
        bytes.replace(
            0, 6, std::string("\x16\x03\x01\x01\x00", 5) + static_cast<char>(feeds == 0 ? 1 : 2));
      }
      chunks.push_back({feeds % 2 == 0, bytes});
    }
    // Whatever garbage arrives, the outcome depends on the bytes only, not on how they
    // were cut.
    HandshakeObserver one_by_one;
    for (const auto& chunk : chunks) {
      for (const char c : chunk.bytes) {
        feed(one_by_one, chunk.from_client, std::string_view(&c, 1));
      }
    }
    ASSERT_EQ(dump(one_by_one), dump(replay(chunks))) << "seed=" << seed << " round=" << round;
  }
}

TEST(HandshakeObserver, MalformedClientHelloIsAParseError) {
  HandshakeObserver observer;
  std::string body = client_hello_body();
  body.resize(body.size() - 3);  // extensions block now announces more than it holds
  observer.feed_client(records(22, handshake(1, body)));
  EXPECT_EQ(observer.observation().facts.parse_error, "c>s: malformed ClientHello extensions");
  EXPECT_FALSE(observer.observation().facts.sni);
}

TEST(HandshakeObserver, BadRecordHeaderMidStreamIsAParseError) {
  HandshakeObserver observer;
  observer.feed_client(records(22, handshake(1, client_hello_body())) + "garbage!");
  EXPECT_EQ(observer.observation().facts.sni, "mx.example.test");
  EXPECT_NE(observer.observation().facts.parse_error.find("c>s: record"), std::string::npos);
}

// 256 KiB of 4-byte entries once became 65535 certificates to read and to write.
TEST(HandshakeObserver, ChainIsCappedAtMaxChainCertificatesAndSaysSo) {
  for (const std::size_t count : {max_chain_certificates - 1, max_chain_certificates,
                                  max_chain_certificates + 1, std::size_t{65535}}) {
    std::string list;
    for (std::size_t i = 0; i < count; ++i) {
      list += vec24(std::string(1, '0'));
    }
    HandshakeObserver observer;
    observer.feed_client(records(22, handshake(1, client_hello_body())));
    observer.feed_client(records(22, handshake(11, vec24(list))));
    const auto& o = observer.observation();
    EXPECT_EQ(o.client_chain_der.size(), std::min(count, max_chain_certificates)) << count;
    if (count <= max_chain_certificates) {
      EXPECT_EQ(o.facts.parse_error, "") << count;
    } else {
      EXPECT_EQ(o.facts.parse_error, "c>s: certificate_list holds " + std::to_string(count) +
                                         " certificates; the first 16 are kept");
    }
  }
}

std::string alert(std::uint8_t level, std::uint8_t description) {
  return records(21, std::string{static_cast<char>(level), static_cast<char>(description)});
}

// OpenSSL's SNI callback sends a warning unrecognized_name, then the server may still fail
// the handshake: the fatal alert is the fact, not the warning before it.
TEST(HandshakeObserver, FatalAlertReplacesAnEarlierWarningButNotTheOtherWayRound) {
  HandshakeObserver observer;
  observer.feed_client(records(22, handshake(1, client_hello_body())));
  observer.feed_server(alert(1, 112) + alert(2, 40) + alert(1, 0));
  const auto& a = observer.observation().facts.alert;
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->level, "fatal");
  EXPECT_EQ(a->description, "handshake_failure");
  EXPECT_TRUE(alert_ends_handshake(*a));
}

TEST(HandshakeObserver, WhichAlertsEndTheHandshake) {
  EXPECT_TRUE(ends_handshake(2, 0));     // anything fatal
  EXPECT_FALSE(ends_handshake(1, 112));  // warning unrecognized_name (RFC 6066 §3)
  EXPECT_FALSE(ends_handshake(1, 0));    // close_notify
  EXPECT_FALSE(ends_handshake(1, 100));  // no_renegotiation
  EXPECT_TRUE(ends_handshake(1, 40));    // TLS 1.3 may send handshake_failure at level 1
}

// Nothing is inferred from what was not seen because parsing had failed.
TEST(HandshakeObserver, NoResumptionGuessAfterTheServerFlightFailedToParse) {
  HandshakeObserver observer;
  observer.feed_client(records(22, handshake(1, client_hello_body())));
  observer.feed_server(records(22, server_hello_12() + handshake(11, "\x00\x00")) +
                       records(20, std::string(1, '\x01')));
  const auto& f = observer.observation().facts;
  EXPECT_NE(f.parse_error.find("s>c"), std::string::npos) << f.parse_error;
  EXPECT_FALSE(f.resumed);
}

// RFC 5246 Appendix E.2: a legacy client's SSLv2-compatible hello is not plaintext injection.
TEST(HandshakeObserver, SslV2CompatibleClientHelloIsNotPlaintextEvidence) {
  EXPECT_EQ(sniff_record(std::string("\x80\x2e\x01\x03\x01", 5)), Sniff::sslv2_hello);
  EXPECT_EQ(sniff_record(std::string("\x80\x2e\x01", 3)), Sniff::need_more);
  HandshakeObserver observer;
  observer.feed_client(std::string("\x80\x2e\x01\x03\x01", 5) + std::string(0x2e - 3, 'x'));
  observer.feed_server(records(22, server_hello_12()));
  const auto& o = observer.observation();
  EXPECT_FALSE(o.client_plaintext.has_value());
  EXPECT_NE(o.facts.parse_error.find("SSLv2-compatible ClientHello"), std::string::npos);
  EXPECT_EQ(o.facts.version, "TLSv1.2");  // the server side is still read
}

}  // namespace
}  // namespace hopscope::tls
