#include "policy/transcript.hpp"

#include <gtest/gtest.h>

namespace hopscope::policy {
namespace {

TEST(CommandVerb, IsTheFirstWordUpperCased) {
  EXPECT_EQ(command_verb("mail FROM:<a@example.com>"), "MAIL");
  EXPECT_EQ(command_verb("Ehlo mail.fabrikam.com"), "EHLO");
  EXPECT_EQ(command_verb("QUIT"), "QUIT");
  EXPECT_EQ(command_verb(""), "");
}

TEST(VerbIs, AgreesWithCommandVerbInAnyCase) {
  for (const char* line :
       {"helo a", "HELO a", "HeLo", "HELOX a", "HEL", "", " HELO", "EHLO a", "helo\tb", "héLO a"}) {
    EXPECT_EQ(verb_is(line, "HELO"), command_verb(line) == "HELO") << line;
  }
  EXPECT_TRUE(verb_is("data", "DATA"));
  EXPECT_FALSE(verb_is("DATA2", "DATA"));
  EXPECT_FALSE(verb_is("DAT", "DATA"));
}

TEST(PairExchanges, ViewsTheTranscriptLinesWithoutCopying) {
  std::vector<TranscriptEntry> transcript(3);
  transcript[0].dir = "s>c";
  transcript[0].line = "220 mx.contoso.com ESMTP";
  transcript[1].dir = "c>s";
  transcript[1].line = "EHLO mail.fabrikam.com";
  transcript[2].dir = "s>c";
  transcript[2].line = "250 mx.contoso.com";
  const auto exchanges = pair_exchanges(transcript);
  ASSERT_EQ(exchanges.size(), 2U);
  EXPECT_TRUE(exchanges[0].command.empty());  // the banner
  ASSERT_EQ(exchanges[0].reply.size(), 1U);
  EXPECT_EQ(exchanges[0].reply[0].data(), transcript[0].line.data());
  EXPECT_EQ(exchanges[1].command.data(), transcript[1].line.data());
  EXPECT_EQ(exchanges[1].code, 250);
}

}  // namespace
}  // namespace hopscope::policy
