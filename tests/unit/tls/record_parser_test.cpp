#include "tls/record_parser.hpp"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace hopscope::tls {
namespace {

std::string record(std::uint8_t type, std::string_view fragment, std::uint16_t version = 0x0303) {
  std::string out;
  out += static_cast<char>(type);
  out += static_cast<char>(version >> 8U);
  out += static_cast<char>(version & 0xFFU);
  out += static_cast<char>((fragment.size() >> 8U) & 0xFFU);
  out += static_cast<char>(fragment.size() & 0xFFU);
  out += fragment;
  return out;
}

std::string handshake_header(std::uint8_t type, std::size_t length) {
  std::string out;
  out += static_cast<char>(type);
  out += static_cast<char>((length >> 16U) & 0xFFU);
  out += static_cast<char>((length >> 8U) & 0xFFU);
  out += static_cast<char>(length & 0xFFU);
  return out;
}

// "type/length/fragment" per record, or "error" — a comparable summary of all events.
std::string read_all(RecordParser& parser) {
  std::string out;
  while (auto event = parser.next()) {
    if (std::holds_alternative<RecordError>(*event)) {
      out += "error;";
    } else {
      const auto& r = std::get<Record>(*event);
      out += std::to_string(r.type) + "/" + std::to_string(r.length) + "/" +
             std::string(r.fragment) + ";";
    }
  }
  return out;
}

std::string read_chunks(const std::vector<std::string_view>& chunks) {
  RecordParser parser;
  std::string out;
  for (const auto chunk : chunks) {
    parser.feed(chunk);
    out += read_all(parser);
  }
  return out;
}

std::string sample_stream() {
  return record(content_type::handshake, "hello") +
         record(content_type::change_cipher_spec, "\x01") +
         record(content_type::application_data, std::string(300, 'x')) +
         record(content_type::alert, std::string("\x02\x28", 2));
}

TEST(SniffRecord, RecognisesTlsRecordHeaders) {
  EXPECT_EQ(sniff_record(std::string("\x16\x03\x01\x02\x00", 5)), Sniff::tls);
  EXPECT_EQ(sniff_record(std::string("\x15\x03\x03\x00\x02", 5)), Sniff::tls);
  EXPECT_EQ(sniff_record(""), Sniff::need_more);
  EXPECT_EQ(sniff_record("\x16"), Sniff::need_more);
  EXPECT_EQ(sniff_record(std::string("\x16\x03\x01\x00", 4)), Sniff::need_more);
}

TEST(SniffRecord, RejectsPlaintextAndImplausibleHeaders) {
  EXPECT_EQ(sniff_record("EHLO client.example\r\n"), Sniff::not_tls);
  EXPECT_EQ(sniff_record("GET / HTTP/1.1\r\n"), Sniff::not_tls);
  EXPECT_EQ(sniff_record("E"), Sniff::not_tls);
  EXPECT_EQ(sniff_record("\x16\x04"), Sniff::not_tls);                              // not 0x03xx
  EXPECT_EQ(sniff_record(std::string("\x16\x03\x01\x00\x00", 5)), Sniff::not_tls);  // empty
  EXPECT_EQ(sniff_record(std::string("\x19\x03\x03\x00\x10", 5)), Sniff::not_tls);  // type 25
  EXPECT_EQ(sniff_record(std::string("\x80\x2e\x01\x00\x02", 5)), Sniff::not_tls);  // SSLv2
}

TEST(SniffRecord, LengthLimitAtMinusOneAtAndPlusOne) {
  auto header = [](std::size_t length) {
    return std::string("\x17\x03\x03", 3) + static_cast<char>(length >> 8U) +
           static_cast<char>(length & 0xFFU);
  };
  EXPECT_EQ(sniff_record(header(max_record_fragment_bytes - 1)), Sniff::tls);
  EXPECT_EQ(sniff_record(header(max_record_fragment_bytes)), Sniff::tls);
  EXPECT_EQ(sniff_record(header(max_record_fragment_bytes + 1)), Sniff::not_tls);
}

TEST(ByteReader, NeverReadsPastTheEnd) {
  ByteReader r(
      std::string_view("\x00\x05"
                       "abc",
                       5));
  EXPECT_EQ(r.vector16(), std::nullopt);  // announces 5, holds 3
  EXPECT_EQ(r.remaining(), 5U);           // and consumed nothing
  EXPECT_EQ(r.u24(), 0x000561U);
  EXPECT_EQ(r.u8(), 0x62U);
  EXPECT_EQ(r.u16(), std::nullopt);
  EXPECT_EQ(r.u8(), 0x63U);
  EXPECT_EQ(r.u8(), std::nullopt);
  EXPECT_EQ(r.bytes(1), std::nullopt);
  EXPECT_EQ(r.bytes(0), std::string_view());
  EXPECT_TRUE(r.empty());
}

TEST(ByteReader, ReadsLengthPrefixedVectors) {
  ByteReader r(
      std::string_view("\x02hi\x00\x01z\x00\x00\x03"
                       "abc",
                       12));
  EXPECT_EQ(r.vector8(), "hi");
  EXPECT_EQ(r.vector16(), "z");
  EXPECT_EQ(r.vector24(), "abc");
  EXPECT_TRUE(r.empty());
}

TEST(RecordParser, SameEventsForEverySplitPoint) {
  const std::string wire = sample_stream();
  const std::string whole = read_chunks({wire});
  EXPECT_EQ(whole, "22/5/hello;20/1/\x01;23/300/" + std::string(300, 'x') + ";21/2/\x02\x28;");
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    const std::string_view w(wire);
    EXPECT_EQ(read_chunks({w.substr(0, cut), w.substr(cut)}), whole) << "cut=" << cut;
  }
}

TEST(RecordParser, SameEventsOneByteAtATime) {
  const std::string wire = sample_stream();
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < wire.size(); ++i) {
    bytes.push_back(std::string_view(wire).substr(i, 1));
  }
  EXPECT_EQ(read_chunks(bytes), read_chunks({wire}));
}

TEST(RecordParser, SameEventsForRandomSplits) {
  const std::string wire = sample_stream() + sample_stream();
  const std::string whole = read_chunks({wire});
  const auto seed = std::random_device{}();
  std::cout << "seed=" << seed << "\n";
  std::mt19937 rng(seed);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::string_view> chunks;
    std::size_t pos = 0;
    while (pos < wire.size()) {
      const std::size_t n = std::uniform_int_distribution<std::size_t>(0, 64)(rng);
      chunks.push_back(std::string_view(wire).substr(pos, n));
      pos += n;
    }
    EXPECT_EQ(read_chunks(chunks), whole) << "seed=" << seed << " round=" << round;
  }
}

TEST(RecordParser, RecordLengthLimitAtMinusOneAtAndPlusOne) {
  for (const std::size_t length : {max_record_fragment_bytes - 1, max_record_fragment_bytes}) {
    RecordParser parser;
    parser.feed(record(content_type::application_data, std::string(length, 'a')));
    auto event = parser.next();
    ASSERT_TRUE(event);
    ASSERT_TRUE(std::holds_alternative<Record>(*event));
    EXPECT_EQ(std::get<Record>(*event).fragment.size(), length);
  }
  RecordParser parser;
  parser.feed(
      record(content_type::application_data, std::string(max_record_fragment_bytes + 1, 'a')));
  auto event = parser.next();
  ASSERT_TRUE(event);
  EXPECT_TRUE(std::holds_alternative<RecordError>(*event));
  EXPECT_TRUE(parser.failed());
  parser.feed(record(content_type::handshake, "x"));
  EXPECT_EQ(parser.next(), std::nullopt);  // framing is lost for good
}

TEST(RecordParser, BadHeadersAreErrors) {
  for (const std::string& wire :
       {std::string("\x30\x03\x03\x00\x01x", 6), std::string("\x16\x02\x00\x00\x01x", 6)}) {
    RecordParser parser;
    parser.feed(wire);
    auto event = parser.next();
    ASSERT_TRUE(event);
    EXPECT_TRUE(std::holds_alternative<RecordError>(*event));
  }
}

TEST(RecordParser, SkippingFragmentsReportsHeadersWithoutBuffering) {
  RecordParser parser;
  parser.skip_fragments();
  const std::string big = record(content_type::application_data, std::string(10000, 'z'));
  parser.feed(std::string_view(big).substr(0, 7));
  EXPECT_EQ(read_all(parser), "23/10000/;");
  parser.feed(std::string_view(big).substr(7));
  EXPECT_EQ(parser.buffered(), 0U);
  parser.feed(record(content_type::alert, std::string("\x01\x00", 2)));
  EXPECT_EQ(read_all(parser), std::string("21/2/\x01\x00;", 8));  // alerts stay whole
}

TEST(HandshakeAssembler, JoinsMessagesAcrossFragmentsAndSplitsCoalescedOnes) {
  const std::string two = handshake_header(2, 3) + "abc" + handshake_header(14, 0);
  HandshakeAssembler assembler;
  assembler.feed(std::string_view(two).substr(0, 5));
  EXPECT_EQ(assembler.next(), std::nullopt);
  EXPECT_FALSE(assembler.at_boundary());
  assembler.feed(std::string_view(two).substr(5));
  auto first = assembler.next();
  ASSERT_TRUE(first && std::holds_alternative<HandshakeMessage>(*first));
  EXPECT_EQ(std::get<HandshakeMessage>(*first).type, 2);
  EXPECT_EQ(std::get<HandshakeMessage>(*first).body, "abc");
  auto second = assembler.next();
  ASSERT_TRUE(second && std::holds_alternative<HandshakeMessage>(*second));
  EXPECT_EQ(std::get<HandshakeMessage>(*second).type, 14);
  EXPECT_TRUE(assembler.at_boundary());
  EXPECT_EQ(assembler.next(), std::nullopt);
}

void expect_cap(std::uint8_t type, std::size_t cap) {
  for (const std::size_t length : {cap - 1, cap}) {
    HandshakeAssembler assembler;
    assembler.feed(handshake_header(type, length) + std::string(length, 'q'));
    auto event = assembler.next();
    ASSERT_TRUE(event);
    ASSERT_TRUE(std::holds_alternative<HandshakeMessage>(*event)) << "length=" << length;
    EXPECT_EQ(std::get<HandshakeMessage>(*event).body.size(), length);
  }
  HandshakeAssembler assembler;
  assembler.feed(handshake_header(type, cap + 1));  // refused on the header alone
  auto event = assembler.next();
  ASSERT_TRUE(event);
  EXPECT_TRUE(std::holds_alternative<HandshakeError>(*event));
  EXPECT_TRUE(assembler.failed());
}

TEST(HandshakeAssembler, ClientHelloCapAtMinusOneAtAndPlusOne) {
  expect_cap(handshake_type::client_hello, max_client_hello_bytes);
}

TEST(HandshakeAssembler, CertificateCapAtMinusOneAtAndPlusOne) {
  expect_cap(handshake_type::certificate, max_certificate_message_bytes);
}

TEST(HandshakeAssembler, OtherMessageCapAtMinusOneAtAndPlusOne) {
  expect_cap(handshake_type::certificate_request, max_other_handshake_message_bytes);
}

TEST(RecordParser, RandomBytesNeverCrash) {
  const auto seed = std::random_device{}();
  std::cout << "seed=" << seed << "\n";
  std::mt19937 rng(seed);
  for (int round = 0; round < 500; ++round) {
    std::string wire(std::uniform_int_distribution<std::size_t>(0, 300)(rng), '\0');
    for (auto& c : wire) {
      c = static_cast<char>(rng() & 0xFFU);
    }
    if (round % 2 == 0 && wire.size() >= 3) {
      wire[0] = 0x16;  // a plausible header start, so the body paths run too
      wire[1] = 0x03;
    }
    RecordParser parser;
    HandshakeAssembler assembler;
    parser.feed(wire);
    while (auto event = parser.next()) {
      if (const auto* r = std::get_if<Record>(&*event)) {
        assembler.feed(r->fragment);
        while (assembler.next()) {
        }
      }
    }
  }
}

}  // namespace
}  // namespace hopscope::tls
