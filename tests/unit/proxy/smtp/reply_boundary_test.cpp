// ReplyBoundary: where hopscope may add its own reply to the server's byte stream.

#include "proxy/smtp/reply_boundary.hpp"

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

}  // namespace
}  // namespace hopscope::smtp
