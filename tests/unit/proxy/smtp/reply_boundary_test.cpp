// ReplyBoundary: where hopscope may add its own reply to the server's byte stream.

#include "proxy/smtp/reply_boundary.hpp"

#include <cstddef>
#include <cstdio>
#include <random>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace hopscope::smtp {
namespace {

bool ends_at_reply_end(std::string_view bytes) {
  ReplyBoundary b;
  b.feed(bytes);
  return b.at_reply_end();
}

TEST(ReplyBoundary, WholeRepliesEndAtABoundary) {
  EXPECT_TRUE(ends_at_reply_end(""));
  EXPECT_TRUE(ends_at_reply_end("220 mx ESMTP\r\n"));
  EXPECT_TRUE(ends_at_reply_end("250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n"));
  EXPECT_TRUE(ends_at_reply_end("250\r\n"));   // code only (RFC 5321 §4.2: text optional)
  EXPECT_TRUE(ends_at_reply_end("250 ok\n"));  // bare LF still ends the line
}

TEST(ReplyBoundary, HalfAReplyIsNotABoundary) {
  EXPECT_FALSE(ends_at_reply_end("2"));
  EXPECT_FALSE(ends_at_reply_end("250 2.6.0 <id@up> queu"));
  EXPECT_FALSE(ends_at_reply_end("250 ok\r"));
  EXPECT_FALSE(ends_at_reply_end("250-mx\r\n"));  // more lines follow
  EXPECT_FALSE(ends_at_reply_end("250-mx\r\n250 ST"));
}

// The answer depends only on the bytes, not on how reads split them.
TEST(ReplyBoundary, SameAnswerForEverySplitPoint) {
  const std::string stream = "220 mx\r\n250-mx\r\n250-SIZE 0\r\n250 8BITMIME\r\n354 go\r\n";
  for (std::size_t end = 0; end <= stream.size(); ++end) {
    const std::string_view prefix = std::string_view(stream).substr(0, end);
    const bool whole = ends_at_reply_end(prefix);
    for (std::size_t split = 0; split <= end; ++split) {
      ReplyBoundary b;
      b.feed(prefix.substr(0, split));
      b.feed(prefix.substr(split));
      EXPECT_EQ(b.at_reply_end(), whole) << "end " << end << " split " << split;
    }
  }
}

// The definition, one byte at a time: a line ends at LF; the reply with it unless the line's
// fourth byte is '-'. ReplyBoundary reads whole lines at once and must agree with it.
bool reference_at_reply_end(std::string_view bytes) {
  bool at_end = true;
  std::size_t line_bytes = 0;
  char fourth = 0;
  for (const char c : bytes) {
    if (c == '\n') {
      at_end = !(line_bytes >= 4 && fourth == '-');
      line_bytes = 0;
      continue;
    }
    at_end = false;
    if (++line_bytes == 4) {
      fourth = c;
    }
  }
  return at_end;
}

TEST(ReplyBoundary, AgreesWithTheByteByByteDefinitionOnRandomStreamsAndSplits) {
  const unsigned seed = std::random_device{}();
  std::printf("ReplyBoundary random seed %u\n", seed);
  std::mt19937 rng(seed);
  constexpr std::string_view alphabet = "250- \r\nx";
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<std::size_t> length(0, 40);
  for (int round = 0; round < 2000; ++round) {
    std::string stream(length(rng), ' ');
    for (char& c : stream) {
      c = alphabet[pick(rng)];
    }
    ReplyBoundary b;
    std::size_t fed = 0;
    while (fed < stream.size()) {
      const auto n = std::uniform_int_distribution<std::size_t>(1, stream.size() - fed)(rng);
      b.feed(std::string_view(stream).substr(fed, n));
      fed += n;
      ASSERT_EQ(b.at_reply_end(), reference_at_reply_end(std::string_view(stream).substr(0, fed)))
          << "seed " << seed << " stream \"" << stream << "\" after " << fed << " bytes";
    }
  }
}

TEST(ReplyBoundary, OneByteAtATimeGivesTheSameAnswer) {
  const std::string stream = "220 mx\r\n250-mx\r\n250-SIZE 0\r\n250 8BITMIME\r\n";
  ReplyBoundary b;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    b.feed(std::string_view(stream).substr(i, 1));
    EXPECT_EQ(b.at_reply_end(), reference_at_reply_end(std::string_view(stream).substr(0, i + 1)))
        << "after " << i + 1 << " bytes";
  }
  EXPECT_TRUE(b.at_reply_end());
}

}  // namespace
}  // namespace hopscope::smtp
