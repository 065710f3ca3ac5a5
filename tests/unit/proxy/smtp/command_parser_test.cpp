#include "proxy/smtp/command_parser.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace hopscope::smtp {
namespace {

TEST(CommandParser, VerbsAreCaseInsensitive) {
  EXPECT_EQ(parse_command("ehlo mail.contoso.com").kind, CommandKind::ehlo);
  EXPECT_EQ(parse_command("EhLo mail.contoso.com").verb, "EHLO");
  EXPECT_EQ(parse_command("HELO x").kind, CommandKind::helo);
  EXPECT_EQ(parse_command("StartTLS").kind, CommandKind::starttls);
  EXPECT_EQ(parse_command("quit").kind, CommandKind::quit);
  EXPECT_EQ(parse_command("RSET").kind, CommandKind::rset);
  EXPECT_EQ(parse_command("noop").kind, CommandKind::noop);
  EXPECT_EQ(parse_command("data").kind, CommandKind::data);
  EXPECT_EQ(parse_command("XXXXXXXX").kind, CommandKind::other);  // a masked STARTTLS
  EXPECT_EQ(parse_command("XEXCH50 1 2").verb, "XEXCH50");
  EXPECT_EQ(parse_command("").kind, CommandKind::other);
}

TEST(CommandParser, MailFromKeepsPathAndParameters) {
  const Command c = parse_command("MAIL FROM:<chris@contoso.com> SIZE=251 BODY=8BITMIME");
  EXPECT_EQ(c.kind, CommandKind::mail);
  EXPECT_EQ(c.args(), "FROM:<chris@contoso.com> SIZE=251 BODY=8BITMIME");
  EXPECT_EQ(c.path(), "chris@contoso.com");
  EXPECT_EQ(c.params(), (std::vector<std::string_view>{"SIZE=251", "BODY=8BITMIME"}));
  EXPECT_TRUE(c.error.empty());
  EXPECT_EQ(parse_command("mail from:<>").path(), "");
  EXPECT_TRUE(parse_command("mail from:<>").error.empty());
  EXPECT_EQ(parse_command("MAIL FROM: <a@b>").path(), "a@b");
  EXPECT_EQ(parse_command("MAIL <a@b>").error, "mail_syntax");
  EXPECT_EQ(parse_command("MAIL FROM:<a@b").error, "mail_syntax");
}

TEST(CommandParser, RcptToKeepsPathAndParameters) {
  const Command c = parse_command("rcpt to:<kim@fabrikam.com> NOTIFY=SUCCESS,FAILURE");
  EXPECT_EQ(c.kind, CommandKind::rcpt);
  EXPECT_EQ(c.path(), "kim@fabrikam.com");
  EXPECT_EQ(c.params(), std::vector<std::string_view>{"NOTIFY=SUCCESS,FAILURE"});
  EXPECT_EQ(parse_command("RCPT FROM:<x>").error, "rcpt_syntax");
}

TEST(CommandParser, BdatSizeAndLast) {
  const Command chunk = parse_command("BDAT 1000");
  EXPECT_EQ(chunk.kind, CommandKind::bdat);
  EXPECT_EQ(chunk.bdat_size, 1000U);
  const Command last = parse_command("bdat 0 last");
  EXPECT_EQ(last.kind, CommandKind::bdat_last);
  EXPECT_EQ(last.bdat_size, 0U);
  for (const char* bad : {"BDAT", "BDAT x", "BDAT -1", "BDAT 10 FIRST", "BDAT 1 LAST more"}) {
    const Command c = parse_command(bad);
    EXPECT_EQ(c.error, "bdat_size_invalid") << bad;
    EXPECT_FALSE(c.bdat_size.has_value()) << bad;
  }
}

// The size limit is 2^64-1: at -1, at and +1, and the 20-digit case from the brief.
TEST(CommandParser, BdatSizeOverflowIsAnErrorNotUndefined) {
  EXPECT_EQ(parse_command("BDAT 18446744073709551614").bdat_size, 18446744073709551614ULL);
  EXPECT_EQ(parse_command("BDAT 18446744073709551615").bdat_size, 18446744073709551615ULL);
  EXPECT_EQ(parse_command("BDAT 18446744073709551616").error, "bdat_size_invalid");
  const Command c = parse_command("BDAT 99999999999999999999");
  EXPECT_EQ(c.kind, CommandKind::bdat);
  EXPECT_EQ(c.error, "bdat_size_invalid");
  EXPECT_FALSE(c.bdat_size.has_value());
}

TEST(CommandParser, AuthInitialResponseIsRedacted) {
  const Command plain = parse_command("AUTH PLAIN AGFsaWNlAHNlY3JldA==");
  EXPECT_EQ(plain.kind, CommandKind::auth);
  EXPECT_TRUE(plain.secret);
  EXPECT_EQ(plain.transcript_line(), "AUTH PLAIN <redacted>");
  EXPECT_EQ(plain.raw, "AUTH PLAIN AGFsaWNlAHNlY3JldA==");
  const Command login = parse_command("auth login");
  EXPECT_FALSE(login.secret);
  EXPECT_EQ(login.transcript_line(), "auth login");
  EXPECT_EQ(parse_command("AUTH  LOGIN  dXNlcg==").transcript_line(), "AUTH  LOGIN <redacted>");
  const Command response = sasl_response("c2VjcmV0");
  EXPECT_TRUE(response.secret);
  EXPECT_EQ(response.kind, CommandKind::auth_response);
  EXPECT_EQ(response.transcript_line(), "<redacted>");
}

// Postfix's smtpd splits a command on any white space and skips it at the start
// (smtpd_token.c): these are DATA, AUTH, MAIL and BDAT to it, so they must be to the codec,
// or a body is read as commands and a secret reaches the transcript.
TEST(CommandParser, WordBreaksAreThoseOfPostfix) {
  EXPECT_EQ(parse_command("DATA\t").kind, CommandKind::data);
  EXPECT_EQ(parse_command(" DATA").kind, CommandKind::data);
  EXPECT_EQ(parse_command("\tdata ").verb, "DATA");
  EXPECT_EQ(parse_command("DATA\x0b").kind, CommandKind::data);
  EXPECT_EQ(parse_command("DATAX").kind, CommandKind::other);
  const Command auth = parse_command("AUTH\tPLAIN\tAGFsaWNlAHNlY3JldA==");
  EXPECT_EQ(auth.kind, CommandKind::auth);
  EXPECT_TRUE(auth.secret);
  EXPECT_EQ(auth.transcript_line(), "AUTH\tPLAIN <redacted>");
  EXPECT_EQ(parse_command(" AUTH PLAIN c2VjcmV0").transcript_line(), " AUTH PLAIN <redacted>");
  const Command mail = parse_command("MAIL\tFROM:\t<a@b>\tSIZE=1");
  EXPECT_EQ(mail.kind, CommandKind::mail);
  EXPECT_EQ(mail.args(), "FROM:\t<a@b>\tSIZE=1");
  EXPECT_EQ(mail.path(), "a@b");
  EXPECT_EQ(mail.params(), (std::vector<std::string_view>{"SIZE=1"}));
  EXPECT_EQ(parse_command("RCPT TO:kim@fabrikam.com\tNOTIFY=NEVER").path(), "kim@fabrikam.com");
  EXPECT_EQ(parse_command("MAIL  FROM:<a@b>").path(), "a@b");
  EXPECT_TRUE(parse_command("MAIL\t FROM:<a@b>").error.empty());
  const Command bdat = parse_command("BDAT\t10\tLAST");
  EXPECT_EQ(bdat.kind, CommandKind::bdat_last);
  EXPECT_EQ(bdat.bdat_size, 10U);
  EXPECT_EQ(parse_command(" \t ").verb, "");
  EXPECT_EQ(parse_command(" \t ").kind, CommandKind::other);
}

TEST(CommandParser, BinaryBytesAreKeptVerbatim) {
  const std::string line("EHLO \0\xff\xc3\x28", 9);
  const Command c = parse_command(line);
  EXPECT_EQ(c.kind, CommandKind::ehlo);
  EXPECT_EQ(c.raw, line);
  EXPECT_EQ(c.args(), line.substr(5));
}

// The codec hands its own line over (parse_command_taking): the Command must be the same as
// parsing a view of it, whatever the line holds (short lines stay in the string's own buffer,
// long ones are moved: the views the parser keeps must follow).
TEST(CommandParser, TakingTheLineParsesAsAView) {
  const std::vector<std::string> lines{
      "",
      "DATA",
      "  AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=",
      "AUTH LOGIN",
      "MAIL FROM:<a@b> SIZE=10",
      "MAIL FROM:<a-rather-long-address@example.test> SIZE=1024 BODY=8BITMIME",
      "RCPT TO:<unclosed@example.test",
      "rcpt to: bare@example.test NOTIFY=NEVER",
      "BDAT 1000 LAST",
      "BDAT 99999999999999999999",
      "XEXCH50 1024 2",
      "EHLO\tmail.contoso.com",
      "XXXXXXXX",
  };
  for (const auto& line : lines) {
    SCOPED_TRACE(line);
    EXPECT_EQ(parse_command_taking(std::string(line)), parse_command(line));
  }
}

// A Command keeps offsets into raw, not views: a copy or a move (a short line's bytes move
// with it, a long one's buffer is handed over) reads the same parts as the original.
TEST(CommandParser, CopiesAndMovesReadTheSameParts) {
  for (const std::string line :
       {"MAIL FROM:<a@b> SIZE=1", "MAIL FROM:<a-rather-long-address@example.test> SIZE=1024 X=Y",
        "AUTH PLAIN c2VjcmV0", "AUTH PLAIN a-rather-long-initial-response"}) {
    SCOPED_TRACE(line);
    const Command original = parse_command(line);
    const Command copy = original;  // NOLINT(performance-unnecessary-copy-initialization)
    Command source = original;
    const Command moved = std::move(source);
    for (const Command* c : {&copy, &moved}) {
      EXPECT_EQ(*c, original);
      EXPECT_EQ(c->args(), std::string_view(line).substr(5));
      EXPECT_EQ(c->path(), original.path());
      EXPECT_EQ(c->params(), original.params());
      EXPECT_EQ(c->transcript_line(), original.transcript_line());
    }
  }
  EXPECT_EQ(parse_command("MAIL FROM:<a@b> SIZE=1").path(), "a@b");
  EXPECT_EQ(parse_command("AUTH PLAIN c2VjcmV0").transcript_line(), "AUTH PLAIN <redacted>");
}

// A line taken for a SASL response is redacted whole, whatever the parser made of it.
TEST(CommandParser, RedactHidesTheWholeLine) {
  Command c = parse_command("MAIL FROM:<a@b>");
  EXPECT_EQ(c.transcript_line(), "MAIL FROM:<a@b>");
  c.redact();
  EXPECT_TRUE(c.secret);
  EXPECT_EQ(c.transcript_line(), "<redacted>");
  EXPECT_EQ(c.raw, "MAIL FROM:<a@b>");
}

}  // namespace
}  // namespace hopscope::smtp
