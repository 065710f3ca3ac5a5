#include "proxy/smtp/line_reader.hpp"

#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "splits.hpp"

namespace hopscope::smtp {
namespace {

using test::feed_pieces;

using namespace std::string_literals;
using namespace std::string_view_literals;

constexpr std::string_view wire =
    "220 mx ESMTP\r\nEHLO a\nbare\r\r\n\r\nNUL \0 and \xff\xfe\r\n"
    "0123456789012345678901234567890123456789\r\nshort\r\nlast-no-end"sv;

std::vector<LineEvent> read(const std::vector<std::string_view>& pieces, std::size_t limit = 32) {
  return feed_pieces<LineEvent>(LineReader(limit), pieces);
}

TEST(LineReader, ReportsBareLfAndOverLongLinesWithoutRepairing) {
  const auto events = read({wire});
  ASSERT_EQ(events.size(), 7U);
  EXPECT_EQ(std::get<Line>(events[0]), (Line{"220 mx ESMTP", LineEnding::crlf}));
  EXPECT_EQ(std::get<Line>(events[1]), (Line{"EHLO a", LineEnding::bare_lf}));
  EXPECT_EQ(std::get<Line>(events[2]), (Line{"bare\r", LineEnding::crlf}));  // CR kept
  EXPECT_EQ(std::get<Line>(events[3]), (Line{"", LineEnding::crlf}));
  EXPECT_EQ(std::get<Line>(events[4]).text, "NUL \0 and \xff\xfe"s);
  EXPECT_EQ(std::get<LineTooLong>(events[5]),
            (LineTooLong{32, "01234567890123456789012345678901"}));
  EXPECT_EQ(std::get<Line>(events[6]).text, "short");
}

TEST(LineReader, ExposesBytesBufferedAfterTheLastLine) {
  LineReader reader(64);
  reader.feed("STARTTLS\r\nRSET\r");
  ASSERT_TRUE(reader.next().has_value());
  EXPECT_EQ(reader.buffered(), 5U);
  EXPECT_FALSE(reader.next().has_value());
  EXPECT_EQ(reader.buffered(), 5U);
  EXPECT_EQ(reader.take_buffered(), "RSET\r");
  EXPECT_EQ(reader.buffered(), 0U);
}

TEST(LineReader, SameEventsForEverySplitPoint) {
  const auto whole = read({wire});
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    EXPECT_EQ(read(test::cut_at(wire, cut)), whole) << "cut=" << cut;
  }
}

TEST(LineReader, SameEventsOneByteAtATime) {
  EXPECT_EQ(read(test::bytewise(wire)), read({wire}));
}

TEST(LineReader, SameEventsForRandomSplits) {
  const std::uint64_t seed = std::random_device{}();
  std::cout << "LineReader random split seed=" << seed << "\n";
  std::mt19937_64 rng(seed);
  const auto whole = read({wire});
  for (int round = 0; round < 1000; ++round) {
    ASSERT_EQ(read(test::random_pieces(wire, rng)), whole) << "seed=" << seed << " round=" << round;
  }
}

// The limit counts line text without its ending, for CRLF and bare LF alike.
TEST(LineReader, LineLimitAtMinusOneAtAndPlusOne) {
  for (const char* ending : {"\r\n", "\n"}) {
    for (std::size_t len : {9U, 10U, 11U}) {
      const std::string text(len, 'x');
      const std::string bytes = text + ending + "next" + ending;
      for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
        const auto events = read(test::cut_at(bytes, cut), 10);
        ASSERT_EQ(events.size(), 2U) << "len=" << len << " cut=" << cut;
        if (len <= 10) {
          EXPECT_EQ(std::get<Line>(events[0]).text, text);
        } else {
          EXPECT_EQ(std::get<LineTooLong>(events[0]), (LineTooLong{10, std::string(10, 'x')}));
        }
        EXPECT_EQ(std::get<Line>(events[1]).text, "next");
      }
    }
  }
}

TEST(LineReader, MebibyteLineIsReportedOnceWithBoundedMemory) {
  LineReader reader(std::size_t{64} * 1024);
  std::vector<LineEvent> events;
  const std::string chunk(4096, 'A');
  for (int i = 0; i < 256; ++i) {
    reader.feed(chunk);
    while (auto e = reader.next()) {
      events.push_back(std::move(*e));
    }
    EXPECT_LE(reader.buffered(), 64U * 1024 + 4096);
  }
  reader.feed("\r\nQUIT\r\n");
  while (auto e = reader.next()) {
    events.push_back(std::move(*e));
  }
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(std::get<LineTooLong>(events[0]).prefix.size(), 64U * 1024);
  EXPECT_EQ(std::get<Line>(events[1]).text, "QUIT");
}

}  // namespace
}  // namespace hopscope::smtp
