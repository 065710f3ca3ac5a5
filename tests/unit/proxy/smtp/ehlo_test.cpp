#include "proxy/smtp/ehlo.hpp"

#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "transcript.hpp"

namespace hopscope::smtp {
namespace {

// The EHLO reply (second server segment) of a transcript in tests/data/smtp.
Reply ehlo_reply(const std::string& name) {
  const auto segments = test::load_transcript(name);
  ReplyParser parser(4096, 100, 65536);
  int server_segment = 0;
  for (const auto& s : segments) {
    if (s.dir == Direction::server_to_client && ++server_segment == 2) {
      parser.feed(s.bytes);
      auto event = parser.next();
      if (event && std::holds_alternative<Reply>(*event)) {
        return std::get<Reply>(*event);
      }
    }
  }
  ADD_FAILURE() << "no EHLO reply in " << name;
  return {};
}

TEST(Capabilities, Exchange2016EhloReply) {
  const auto caps = Capabilities::from_reply(ehlo_reply("exchange2016_session.txt"));
  ASSERT_TRUE(caps.has_value());
  EXPECT_EQ(caps->greeting(), "mail1.fabrikam.com Hello [172.16.0.5]");
  EXPECT_EQ(caps->lines(), (std::vector<std::string>{
                               "SIZE 37748736", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES",
                               "STARTTLS", "X-ANONYMOUSTLS", "AUTH NTLM", "X-EXPS GSSAPI NTLM",
                               "8BITMIME", "BINARYMIME", "CHUNKING", "XRDST"}));
  EXPECT_TRUE(caps->has("starttls"));
  EXPECT_TRUE(caps->has("StartTLS"));
  EXPECT_TRUE(caps->has("XRDST"));  // in the last line ("250 XRDST")
  EXPECT_EQ(caps->find("x-exps")->params, (std::vector<std::string>{"GSSAPI", "NTLM"}));
  EXPECT_FALSE(caps->has("START"));
  EXPECT_FALSE(caps->has("mail1.fabrikam.com"));  // the greeting is no keyword
}

TEST(Capabilities, ExchangeOnlineEhloReply) {
  const auto caps = Capabilities::from_reply(ehlo_reply("exchange_online_ehlo.txt"));
  ASSERT_TRUE(caps.has_value());
  EXPECT_EQ(caps->items().size(), 8U);
  EXPECT_TRUE(caps->has("chunking"));
  EXPECT_EQ(caps->find("SIZE")->params, std::vector<std::string>{"157286400"});
}

TEST(Capabilities, AsaMaskedStartTlsIsKeptVerbatim) {
  const auto caps = Capabilities::from_reply(ehlo_reply("asa_masked_ehlo.txt"));
  ASSERT_TRUE(caps.has_value());
  EXPECT_FALSE(caps->has("STARTTLS"));
  EXPECT_TRUE(caps->has("XXXXXXXA"));
  EXPECT_EQ(caps->lines(), (std::vector<std::string>{"8BITMIME", "SIZE 14680064", "XXXXXXXA"}));
}

TEST(Capabilities, StartTlsInAnyPosition) {
  for (const auto& lines : std::vector<std::vector<std::string>>{
           {"250-mx", "250-STARTTLS", "250 SIZE 1"}, {"250-mx", "250 starttls"}}) {
    Reply reply{250, "", lines, 0};
    const auto caps = Capabilities::from_reply(reply);
    ASSERT_TRUE(caps.has_value());
    EXPECT_TRUE(caps->has("STARTTLS"));
  }
}

// As Postfix's SMTP client reads them (smtp_proto.c): words split on SP, TAB and "=".
TEST(Capabilities, KeywordsEndAtTabAndEqualsAsPostfixReadsThem) {
  const auto caps = Capabilities::from_reply(
      Reply{250, "", {"250-mx", "250-STARTTLS\t", "250-AUTH=LOGIN PLAIN", "250 SIZE\t1024"}, 0});
  ASSERT_TRUE(caps.has_value());
  EXPECT_TRUE(caps->has("STARTTLS"));
  ASSERT_TRUE(caps->has("AUTH"));
  EXPECT_EQ(caps->find("AUTH")->params, (std::vector<std::string>{"LOGIN", "PLAIN"}));
  ASSERT_TRUE(caps->has("SIZE"));
  EXPECT_EQ(caps->find("SIZE")->params, (std::vector<std::string>{"1024"}));
  EXPECT_EQ(caps->lines(),
            (std::vector<std::string>{"STARTTLS\t", "AUTH=LOGIN PLAIN", "SIZE\t1024"}));
}

TEST(Capabilities, BareLastLineIsNoKeyword) {
  // smtp-sink ends its EHLO reply with "250 " and nothing after it.
  const auto caps =
      Capabilities::from_reply(Reply{250, "", {"250-smtp-sink", "250-PIPELINING", "250 "}, 0});
  ASSERT_TRUE(caps.has_value());
  EXPECT_EQ(caps->lines(), (std::vector<std::string>{"PIPELINING"}));
}

TEST(Capabilities, NotAnEhloReply) {
  EXPECT_FALSE(Capabilities::from_reply(ehlo_reply("pix_banner_ehlo_500.txt")).has_value());
  const auto bare = Capabilities::from_reply(Reply{250, "", {"250"}, 0});
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ(bare->greeting(), "");
  EXPECT_TRUE(bare->items().empty());
}

// ehlo_keyword reads a line as Capabilities does (the reply parser relies on it for lines it
// does not keep).
TEST(Capabilities, EhloKeywordAgreesWithTheCapabilitySet) {
  const std::vector<std::string> lines = {"250-STARTTLS",
                                          "250-starttls\tx",
                                          "250-AUTH=LOGIN PLAIN",
                                          "250- \tSIZE 1000",
                                          "250-XXXXXXXA",
                                          "250 ",
                                          "250",
                                          "250-8BITMIME"};
  for (const auto& line : lines) {
    Reply reply;
    reply.code = 250;
    reply.lines = {"250-mx", line};
    const auto caps = Capabilities::from_reply(reply);
    ASSERT_TRUE(caps.has_value());
    const std::string expected = caps->items().empty() ? "" : caps->items().front().keyword;
    EXPECT_EQ(ehlo_keyword(line), expected) << line;
  }
  EXPECT_EQ(ehlo_keyword("250-AUTH=LOGIN PLAIN"), "AUTH");
  EXPECT_EQ(ehlo_keyword("250 STARTTLS"), "STARTTLS");
}

// capability_lines is the relay's shortcut for Capabilities::from_reply: the same lines and
// the same STARTTLS answer, on every recorded reply and on odd ones.
TEST(CapabilityLines, AgreeWithTheCapabilitySet) {
  const auto reply_of = [](int code, std::vector<std::string> lines) {
    Reply r;
    r.code = code;
    r.lines = std::move(lines);
    return r;
  };
  std::vector<Reply> replies;
  for (const auto* name : {"exchange2016_session.txt", "exchange_online_ehlo.txt",
                           "asa_masked_ehlo.txt", "postfix_pipelined.txt"}) {
    replies.push_back(ehlo_reply(name));
  }
  replies.push_back(reply_of(250, {"250-mx", "250-starttls", "250 "}));
  replies.push_back(reply_of(250, {"250-mx", "250-AUTH=LOGIN", "250-\tSTARTTLS", "250"}));
  replies.push_back(reply_of(250, {"250 mx"}));
  replies.push_back(reply_of(500, {"500 5.5.1 command not recognized"}));
  replies.push_back(reply_of(250, {}));
  for (const auto& reply : replies) {
    const auto caps = Capabilities::from_reply(reply);
    const auto lines = capability_lines(reply);
    ASSERT_EQ(caps.has_value(), lines.has_value()) << reply.code;
    if (caps) {
      EXPECT_EQ(lines->lines, caps->lines());
      EXPECT_EQ(lines->starttls, caps->has("STARTTLS"));
    }
  }
}

}  // namespace
}  // namespace hopscope::smtp
