#include "proxy/smtp/conversation.hpp"

#include <algorithm>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "proxy/smtp/ehlo.hpp"
#include "transcript.hpp"

namespace hopscope::smtp {
namespace {

using test::all_of;
using test::content_of;
using test::load_transcript;
using test::render;
using test::run_bytewise;
using test::run_cut;
using test::run_random;
using test::run_whole;
using test::Segment;

const std::vector<std::string>& transcripts() {
  static const std::vector<std::string> names{
      "exchange2016_session.txt", "exchange_online_ehlo.txt", "postfix_pipelined.txt",
      "exim_session.txt",         "bdat_session.txt",         "data_rejected.txt",
      "bdat_rejected.txt",        "asa_masked_ehlo.txt",      "pix_banner_ehlo_500.txt",
      "pipelined_after_dot.txt",  "xexch50_session.txt",      "whitespace_verbs.txt",
      "smuggling_cr_run.txt",     "data_go_ahead_3yz.txt"};
  return names;
}

TEST(Conversation, SameEventsForEverySplitPoint) {
  for (const auto& name : transcripts()) {
    const auto wire = load_transcript(name);
    const auto whole = run_whole(wire);
    for (std::size_t cut = 0; cut <= test::wire_size(wire); ++cut) {
      const auto split = run_cut(wire, cut);
      ASSERT_TRUE(split == whole) << name << " cut=" << cut << "\n"
                                  << render(split) << "---\n"
                                  << render(whole);
    }
  }
}

TEST(Conversation, SameEventsOneByteAtATime) {
  for (const auto& name : transcripts()) {
    const auto wire = load_transcript(name);
    const auto whole = run_whole(wire);
    const auto bytewise = run_bytewise(wire);
    EXPECT_TRUE(bytewise == whole) << name << "\n" << render(bytewise) << "---\n" << render(whole);
  }
}

TEST(Conversation, SameEventsForRandomSplits) {
  const std::uint64_t seed = test::seed_from_clock();
  std::cout << "Conversation random split seed=" << seed << "\n";
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 200; ++round) {
    for (const auto& name : transcripts()) {
      const auto wire = load_transcript(name);
      const auto split = run_random(wire, rng);
      ASSERT_TRUE(split == run_whole(wire)) << name << " seed=" << seed << " round=" << round;
    }
  }
}

// The relay reads events in place (peek, drop_front) instead of taking them (next): the same
// events, in the same order, byte by byte included.
TEST(Conversation, PeekAndDropFrontGiveTheEventsNextGives) {
  for (const auto& name : transcripts()) {
    const auto wire = load_transcript(name);
    for (const bool bytewise : {false, true}) {
      Conversation c;
      std::vector<Event> peeked;
      for (const auto& segment : wire) {
        const std::size_t step = bytewise ? 1 : std::max<std::size_t>(segment.bytes.size(), 1);
        for (std::size_t from = 0; from < segment.bytes.size() && !c.in_tls(); from += step) {
          test::feed(c, segment.dir, std::string_view(segment.bytes).substr(from, step));
          while (const Event* e = c.peek()) {
            peeked.push_back(*e);
            c.drop_front();
          }
          EXPECT_FALSE(c.next().has_value()) << name;
        }
      }
      const auto expected = bytewise ? run_bytewise(wire) : run_whole(wire);
      EXPECT_TRUE(test::normalise(peeked) == expected)
          << name << (bytewise ? " byte by byte" : "") << "\n"
          << render(test::normalise(peeked)) << "---\n"
          << render(expected);
    }
  }
}

TEST(Conversation, ExchangeSessionMatchesRepliesAndUnstuffsContent) {
  const auto events = run_whole(load_transcript("exchange2016_session.txt"));
  const auto commands = all_of<ClientCommand>(events);
  const auto replies = all_of<ServerReply>(events);
  ASSERT_EQ(commands.size(), 6U);
  ASSERT_EQ(replies.size(), 8U);
  EXPECT_FALSE(replies[0].in_reply_to.has_value());  // banner
  EXPECT_EQ(replies[0].reply.code, 220);
  ASSERT_TRUE(replies[1].in_reply_to.has_value());
  EXPECT_EQ(replies[1].in_reply_to->kind, CommandKind::ehlo);
  EXPECT_EQ(replies[1].reply.lines.size(), 13U);
  const auto caps = Capabilities::from_reply(replies[1].reply);
  ASSERT_TRUE(caps.has_value());
  EXPECT_TRUE(caps->has("starttls"));
  EXPECT_EQ(replies[2].in_reply_to->kind, CommandKind::starttls);
  EXPECT_EQ(replies[2].reply.code, 454);
  EXPECT_EQ(replies[2].reply.enhanced, "4.7.0");
  EXPECT_EQ(commands[2].command.kind, CommandKind::mail);
  EXPECT_EQ(commands[2].command.path(), "chris@contoso.com");
  EXPECT_EQ(commands[2].command.params(),
            (std::vector<std::string_view>{"SIZE=251", "BODY=8BITMIME"}));
  EXPECT_EQ(replies[5].reply.code, 354);
  EXPECT_EQ(replies[5].in_reply_to->kind, CommandKind::data);
  EXPECT_EQ(replies[6].reply.enhanced, "2.6.0");  // the reply after the final dot
  EXPECT_EQ(replies[6].in_reply_to->kind, CommandKind::data);
  EXPECT_EQ(replies[7].in_reply_to->kind, CommandKind::quit);

  const std::string content =
      "From: chris@contoso.com\r\nTo: kim@fabrikam.com\r\nSubject: quarterly figures\r\n\r\n"
      "Hello Kim,\r\n.a line that starts with a dot\r\n.\r\nRegards\r\n";
  EXPECT_EQ(content_of(events), content);
  const auto ends = all_of<MessageEnd>(events);
  ASSERT_EQ(ends.size(), 1U);
  EXPECT_EQ(ends[0].transfer, Transfer::data);
  EXPECT_EQ(ends[0].content_bytes, content.size());
  EXPECT_EQ(ends[0].wire_bytes, content.size() + 2 /* stuffing dots */ + 3 /* ".\r\n" */);
  EXPECT_TRUE(ends[0].complete);
  EXPECT_TRUE(all_of<Anomaly>(events).empty()) << render(events);
  EXPECT_TRUE(all_of<AmbiguousEndOfData>(events).empty());
  EXPECT_TRUE(all_of<StartTls>(events).empty());
}

TEST(Conversation, PipelinedRepliesMatchCommandsInOrder) {
  const auto events = run_whole(load_transcript("postfix_pipelined.txt"));
  const auto replies = all_of<ServerReply>(events);
  ASSERT_EQ(replies.size(), 8U) << render(events);
  EXPECT_EQ(replies[2].in_reply_to->kind, CommandKind::mail);
  EXPECT_EQ(replies[3].in_reply_to->path(), "bob@example.org");
  EXPECT_EQ(replies[3].in_reply_to->params(),
            (std::vector<std::string_view>{"NOTIFY=SUCCESS,FAILURE"}));
  EXPECT_EQ(replies[4].in_reply_to->path(), "nobody@example.org");
  EXPECT_EQ(replies[4].reply.code, 550);
  EXPECT_EQ(replies[5].reply.code, 354);
  EXPECT_EQ(replies[6].in_reply_to->kind, CommandKind::data);
  EXPECT_EQ(replies[7].in_reply_to->kind, CommandKind::quit);
  EXPECT_EQ(content_of(events), "Subject: pipelined\r\n\r\n.\r\n..\r\nbody\r\n");
  EXPECT_EQ(all_of<MessageEnd>(events).size(), 1U);
}

// The reply after a dot must not be taken as the answer to a DATA pipelined behind it:
// that DATA waits for its own 354, and the second message is framed as content.
TEST(Conversation, NextTransactionPipelinedAfterTheDotIsFramed) {
  const auto events = run_whole(load_transcript("pipelined_after_dot.txt"));
  EXPECT_EQ(content_of(events), "one\r\ntwo\r\n") << render(events);
  EXPECT_EQ(all_of<MessageEnd>(events).size(), 2U);
  const auto commands = all_of<ClientCommand>(events);
  ASSERT_EQ(commands.size(), 9U) << render(events);  // EHLO, 2 x (MAIL RCPT DATA), RSET, QUIT
  EXPECT_EQ(commands[7].command.kind, CommandKind::rset);
  const auto replies = all_of<ServerReply>(events);
  ASSERT_EQ(replies.size(), 12U) << render(events);
  EXPECT_EQ(replies[5].reply.code, 250);  // the first message's final reply
  EXPECT_EQ(replies[5].in_reply_to->kind, CommandKind::data);
  EXPECT_TRUE(replies[5].after_content);
  EXPECT_FALSE(replies[8].after_content);  // the 354 to the second DATA
  EXPECT_EQ(replies[8].reply.code, 354);
  EXPECT_EQ(replies[9].reply.code, 550);  // the second message's final reply
  EXPECT_EQ(replies[10].in_reply_to->kind, CommandKind::rset);
  EXPECT_EQ(replies[11].in_reply_to->kind, CommandKind::quit);
  for (const auto& anomaly : all_of<Anomaly>(events)) {
    ADD_FAILURE() << anomaly.kind << ": " << anomaly.detail;
  }
}

// Postfix frames "DATA<TAB>" as DATA and " MAIL" as MAIL: so must the codec, or the body
// is parsed as commands (and recorded), and an AUTH secret after a tab is not redacted.
TEST(Conversation, VerbsSeparatedByTabsAreFramedAsPostfixDoes) {
  const auto events = run_whole(load_transcript("whitespace_verbs.txt"));
  EXPECT_EQ(content_of(events), "QUIT is a line of the body\r\n") << render(events);
  EXPECT_EQ(all_of<MessageEnd>(events).size(), 1U);
  const auto commands = all_of<ClientCommand>(events);
  ASSERT_EQ(commands.size(), 6U) << render(events);  // EHLO AUTH MAIL RCPT DATA QUIT
  EXPECT_EQ(commands[1].command.kind, CommandKind::auth);
  EXPECT_EQ(commands[1].command.transcript_line(), "AUTH\tPLAIN <redacted>");
  EXPECT_EQ(commands[2].command.kind, CommandKind::mail);
  EXPECT_EQ(commands[2].command.path(), "alice@example.com");
  EXPECT_EQ(commands[4].command.kind, CommandKind::data);
  EXPECT_EQ(commands[5].command.kind, CommandKind::quit);
  for (const auto& anomaly : all_of<Anomaly>(events)) {
    ADD_FAILURE() << anomaly.kind << ": " << anomaly.detail;
  }
}

// DESIGN §5: AUTH payloads never reach the audit. An AUTH line that is also odd (bare LF,
// over-long) is quoted in its anomaly as the transcript quotes it: redacted.
TEST(Conversation, AnomaliesOnAnAuthLineNeverQuoteTheSecret) {
  const std::string secret = "AHVzZXIAc2VjcmV0";
  for (const bool too_long : {false, true}) {
    Limits limits;
    limits.max_line_bytes = 64;
    Conversation c(limits);
    c.feed_server("220 mx\r\n");
    const std::string padding = too_long ? std::string(100, 'A') : std::string();
    std::string line = "AUTH PLAIN " + secret;
    line += padding;
    line += too_long ? "\r\n" : "\n";
    c.feed_client(line);
    c.feed_server("235 2.7.0 Authentication successful\r\n");
    std::vector<std::string> details;
    std::vector<std::string> lines;
    while (auto e = c.next()) {
      if (const auto* a = std::get_if<Anomaly>(&*e)) {
        details.push_back(a->kind + ": " + a->detail);
      } else if (const auto* cc = std::get_if<ClientCommand>(&*e)) {
        lines.push_back(cc->command.transcript_line());
      }
    }
    ASSERT_FALSE(details.empty()) << "too_long=" << too_long;
    for (const auto& d : details) {
      EXPECT_EQ(d.find(secret), std::string::npos) << d;
    }
    for (const auto& l : lines) {
      EXPECT_EQ(l.find(secret), std::string::npos) << l;
    }
  }
}

// A sender that pipelines its AUTH LOGIN credentials, refused by upstream (503: no AUTH
// here), makes them arrive as commands. They are still secrets: never in the transcript.
TEST(Conversation, SaslResponsesSentAfterARefusedAuthAreRedacted) {
  Conversation c(Limits{});
  c.feed_server("220 mx\r\n");
  c.feed_client("AUTH LOGIN\r\ndXNlcg==\r\nc2VjcmV0\r\n");
  c.feed_server("503 5.5.1 Error: authentication not enabled\r\n");
  c.feed_server("502 5.5.2 Error: command not recognized\r\n");
  c.feed_server("502 5.5.2 Error: command not recognized\r\n");
  c.feed_client("XXXXXXXX\r\n");  // an unknown command that is no longer after AUTH: kept
  c.feed_server("502 5.5.2 Error: command not recognized\r\n");
  // Right after a refused AUTH, an ESMTP-inspecting firewall's masked STARTTLS is kept too:
  // it is STARTTLS_MASKED's evidence.
  c.feed_client("AUTH LOGIN\r\n");
  c.feed_server("530 5.7.0 Must issue a STARTTLS command first\r\n");
  c.feed_client("XXXXXXXA\r\n");
  c.feed_server("500 5.5.1 command not recognized\r\n");
  std::vector<std::string> lines;
  while (auto e = c.next()) {
    if (const auto* cc = std::get_if<ClientCommand>(&*e)) {
      lines.push_back(cc->command.transcript_line());
    }
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"AUTH LOGIN", "<redacted>", "<redacted>", "XXXXXXXX",
                                             "AUTH LOGIN", "XXXXXXXA"}));
}

// An over-long SASL response is cut at the limit; the rest of that line, arriving in a later
// read, is skipped like the rest of any over-long line, never parsed as a command.
TEST(Conversation, OverlongSaslResponseTailIsNeverACommand) {
  Limits limits;
  limits.max_line_bytes = 16;
  for (const bool one_read : {true, false}) {
    Conversation c(limits);
    c.feed_server("220 mx\r\n");
    c.feed_client("AUTH LOGIN\r\n");
    c.feed_server("334 VXNlcm5hbWU6\r\n");
    if (one_read) {
      c.feed_client("c2VjcmV0c2VjcmV0c2VjcmV0U0VDUkVU\r\n");
    } else {
      c.feed_client("c2VjcmV0c2VjcmV0c2Vj");  // past the limit, no LF yet
      c.feed_client("cmV0U0VDUkVU\r\n");      // the rest of the same line
    }
    c.feed_server("535 5.7.8 Authentication credentials invalid\r\n");
    c.feed_client("QUIT\r\n");
    c.feed_server("221 2.0.0 Bye\r\n");
    std::vector<std::string> lines;
    std::vector<CommandKind> answered;
    while (auto e = c.next()) {
      if (const auto* cc = std::get_if<ClientCommand>(&*e)) {
        lines.push_back(cc->command.transcript_line());
      } else if (const auto* r = std::get_if<ServerReply>(&*e); r && r->in_reply_to) {
        answered.push_back(r->in_reply_to->kind);
      }
    }
    EXPECT_EQ(lines, (std::vector<std::string>{"AUTH LOGIN", "<redacted>", "QUIT"}))
        << "one read: " << one_read;
    EXPECT_EQ(answered, (std::vector<CommandKind>{CommandKind::auth, CommandKind::auth_response,
                                                  CommandKind::quit}))
        << "one read: " << one_read;
  }
}

// The XEXCH50 blob is counted, not parsed: a dot line or "DATA" inside it is neither a
// command nor message content, and its second reply is paired with it.
TEST(Conversation, Xexch50BlobIsCountedAndAnsweredTwice) {
  const auto events = run_whole(load_transcript("xexch50_session.txt"));
  EXPECT_EQ(content_of(events), "Subject: x\r\n\r\nbody\r\n") << render(events);
  const auto commands = all_of<ClientCommand>(events);
  ASSERT_EQ(commands.size(), 6U) << render(events);  // EHLO MAIL RCPT XEXCH50 DATA QUIT
  EXPECT_EQ(commands[3].command.kind, CommandKind::xexch50);
  EXPECT_EQ(commands[3].command.bdat_size, 16U);
  const auto replies = all_of<ServerReply>(events);
  ASSERT_EQ(replies.size(), 9U) << render(events);
  EXPECT_EQ(replies[4].in_reply_to->kind, CommandKind::xexch50);  // 354
  EXPECT_EQ(replies[5].in_reply_to->kind, CommandKind::xexch50);  // after the blob
  EXPECT_TRUE(replies[5].after_content);
  const auto blob_ends = all_of<BlobEnd>(events);
  ASSERT_EQ(blob_ends.size(), 1U);
  EXPECT_EQ(blob_ends[0].bytes, 16U);
  EXPECT_EQ(replies[7].in_reply_to->kind, CommandKind::data);
  EXPECT_EQ(replies[7].reply.code, 250);
  for (const auto& anomaly : all_of<Anomaly>(events)) {
    ADD_FAILURE() << anomaly.kind << ": " << anomaly.detail;
  }
}

TEST(Conversation, RefusedXexch50LeavesNoBlobToSkip) {
  Conversation c;
  c.feed_server("220 mx\r\n");
  c.feed_client("XEXCH50 4 2\r\n");
  c.feed_server("500 5.3.3 Unrecognized command\r\n");
  c.feed_client("QUIT\r\n");
  c.feed_server("221 bye\r\n");
  std::vector<CommandKind> answered;
  while (auto e = c.next()) {
    if (const auto* r = std::get_if<ServerReply>(&*e); r && r->in_reply_to) {
      answered.push_back(r->in_reply_to->kind);
    }
  }
  EXPECT_EQ(answered, (std::vector<CommandKind>{CommandKind::xexch50, CommandKind::quit}));
}

TEST(Conversation, LowerCaseEximSessionIsUnderstood) {
  const auto events = run_whole(load_transcript("exim_session.txt"));
  const auto commands = all_of<ClientCommand>(events);
  ASSERT_EQ(commands.size(), 5U);
  EXPECT_EQ(commands[0].command.verb, "EHLO");
  EXPECT_EQ(commands[1].command.path(), "carol@example.net");
  EXPECT_EQ(content_of(events), "Subject: exim\r\n\r\none line\r\n");
  const auto caps = Capabilities::from_reply(all_of<ServerReply>(events)[1].reply);
  ASSERT_TRUE(caps.has_value());
  EXPECT_TRUE(caps->has("chunking"));
  EXPECT_TRUE(caps->has("HELP"));
  EXPECT_FALSE(caps->has("STARTTLS"));
}

TEST(Conversation, BdatChunksAreLengthCountedWithDotsAsData) {
  const auto events = run_whole(load_transcript("bdat_session.txt"));
  EXPECT_EQ(content_of(events),
            std::string("Subject: b\r\n\r\nfirst\r\n.\r\n..x\r\nend\r\n\0\xff", 36));
  const auto ends = all_of<MessageEnd>(events);
  ASSERT_EQ(ends.size(), 1U);
  EXPECT_EQ(ends[0].transfer, Transfer::bdat);
  EXPECT_EQ(ends[0].wire_bytes, 36U);
  EXPECT_EQ(ends[0].content_bytes, 36U);
  const auto replies = all_of<ServerReply>(events);
  ASSERT_EQ(replies.size(), 7U);
  EXPECT_EQ(replies[4].in_reply_to->kind, CommandKind::bdat);
  EXPECT_EQ(replies[4].in_reply_to->bdat_size, 25U);
  EXPECT_EQ(replies[5].in_reply_to->kind, CommandKind::bdat_last);
  EXPECT_EQ(replies[6].in_reply_to->kind, CommandKind::quit);
  EXPECT_TRUE(all_of<AmbiguousEndOfData>(events).empty());
  EXPECT_TRUE(all_of<Anomaly>(events).empty()) << render(events);
}

TEST(Conversation, RejectedDataResynchronisesOnTheReply) {
  const auto events = run_whole(load_transcript("data_rejected.txt"));
  const auto commands = all_of<ClientCommand>(events);
  ASSERT_EQ(commands.size(), 5U);
  EXPECT_EQ(commands.back().command.kind, CommandKind::quit);
  EXPECT_TRUE(all_of<MessageContent>(events).empty());
  EXPECT_TRUE(all_of<MessageEnd>(events).empty());
  const auto replies = all_of<ServerReply>(events);
  EXPECT_EQ(replies.back().in_reply_to->kind, CommandKind::quit);
  EXPECT_EQ(replies[4].reply.code, 554);
}

TEST(Conversation, AnyPositiveIntermediateReplyIsAGoAhead) {
  const auto events = run_whole(load_transcript("data_go_ahead_3yz.txt"));
  const auto commands = all_of<ClientCommand>(events);
  ASSERT_EQ(commands.size(), 8U) << render(events);
  EXPECT_EQ(commands[2].command.transcript_line(), "<redacted>");
  EXPECT_EQ(commands[3].command.transcript_line(), "<redacted>");
  EXPECT_EQ(commands[6].command.kind, CommandKind::data);
  EXPECT_EQ(commands[7].command.kind, CommandKind::quit);
  EXPECT_EQ(content_of(events), "Subject: not a command\r\n\r\nRSET\r\nQUIT\r\n");
  ASSERT_EQ(all_of<MessageEnd>(events).size(), 1U);
  const std::string all = render(events);
  EXPECT_EQ(all.find("YWxpY2U"), std::string::npos);
  EXPECT_EQ(all.find("c2VjcmV0"), std::string::npos);
  const auto replies = all_of<ServerReply>(events);
  EXPECT_TRUE(replies[replies.size() - 2].after_content);
}

TEST(Conversation, RejectedBdatStillConsumesItsChunk) {
  const auto events = run_whole(load_transcript("bdat_rejected.txt"));
  const auto commands = all_of<ClientCommand>(events);
  ASSERT_EQ(commands.size(), 5U) << render(events);
  EXPECT_EQ(commands[3].command.kind, CommandKind::bdat_last);
  EXPECT_EQ(commands[4].command.kind, CommandKind::quit);
  EXPECT_EQ(content_of(events), "RSET\r\nQUIT\r\n");
  const auto replies = all_of<ServerReply>(events);
  EXPECT_EQ(replies[4].in_reply_to->kind, CommandKind::bdat_last);
  EXPECT_EQ(replies[4].reply.code, 554);
  EXPECT_EQ(replies[5].in_reply_to->kind, CommandKind::quit);
}

TEST(Conversation, MaskedStartTlsIsRefusedAndParsingGoesOn) {
  const auto events = run_whole(load_transcript("asa_masked_ehlo.txt"));
  const auto replies = all_of<ServerReply>(events);
  ASSERT_EQ(replies.size(), 4U);
  EXPECT_EQ(replies[0].reply.lines.front(),
            "220 ****************************************************************");
  const auto caps = Capabilities::from_reply(replies[1].reply);
  ASSERT_TRUE(caps.has_value());
  EXPECT_FALSE(caps->has("STARTTLS"));
  EXPECT_TRUE(caps->has("xxxxxxxa"));
  EXPECT_EQ(replies[2].reply.lines.front(), "500 #5.5.1 command not recognized");
  EXPECT_EQ(replies[2].reply.enhanced, "");  // "#5.5.1" is not RFC 3463 syntax
  EXPECT_EQ(replies[3].in_reply_to->kind, CommandKind::quit);
  EXPECT_FALSE(all_of<StartTls>(events).size() > 0);
}

TEST(Conversation, PixBannerAndEhlo500AreRecordedVerbatim) {
  const auto events = run_whole(load_transcript("pix_banner_ehlo_500.txt"));
  const auto replies = all_of<ServerReply>(events);
  ASSERT_EQ(replies.size(), 4U);
  EXPECT_EQ(replies[0].reply.code, 220);
  EXPECT_EQ(replies[0].reply.lines.front(),
            "220 *********0***************************************************************** "
            "************2*************");
  EXPECT_EQ(replies[1].reply.code, 500);
  EXPECT_EQ(replies[1].in_reply_to->kind, CommandKind::ehlo);
  EXPECT_FALSE(Capabilities::from_reply(replies[1].reply).has_value());
  EXPECT_EQ(replies[2].in_reply_to->kind, CommandKind::helo);
}

TEST(Conversation, AcceptedStartTlsHandsOverHeldBytes) {
  Conversation c;
  c.feed_server("220 mx ESMTP\r\n");
  c.feed_client("EHLO a\r\n");
  c.feed_server("250-mx\r\n250 STARTTLS\r\n");
  c.feed_client("STARTTLS\r\nRSET\r\n");  // pipelined plaintext after STARTTLS: injection
  c.feed_client("\x16\x03\x01");
  c.feed_server("220 2.0.0 Ready to start TLS\r\n250 injected\r\n");
  std::vector<Event> events;
  while (auto e = c.next()) {
    events.push_back(std::move(*e));
  }
  EXPECT_TRUE(c.in_tls());
  const auto tls = all_of<StartTls>(events);
  ASSERT_EQ(tls.size(), 1U) << render(events);
  EXPECT_EQ(tls[0].client_bytes_after_command, "RSET\r\n\x16\x03\x01");
  EXPECT_EQ(tls[0].server_bytes_after_reply, "250 injected\r\n");
  EXPECT_EQ(all_of<ClientCommand>(events).size(), 2U);  // RSET never parsed as a command
  c.feed_client("QUIT\r\n");
  c.feed_server("221 bye\r\n");
  EXPECT_FALSE(c.next().has_value());
}

TEST(Conversation, StartTlsFromExchangeOnlineEndsParsing) {
  const auto events = run_whole(load_transcript("exchange_online_ehlo.txt"));
  const auto tls = all_of<StartTls>(events);
  ASSERT_EQ(tls.size(), 1U);
  EXPECT_TRUE(tls[0].client_bytes_after_command.empty());
  EXPECT_TRUE(tls[0].server_bytes_after_reply.empty());
  const auto caps = Capabilities::from_reply(all_of<ServerReply>(events)[1].reply);
  ASSERT_TRUE(caps.has_value());
  EXPECT_EQ(caps->greeting(), "DB5EUR03FT012.mail.protection.outlook.com Hello [203.0.113.25]");
  EXPECT_EQ(caps->find("SIZE")->params, std::vector<std::string>{"157286400"});
  EXPECT_TRUE(std::holds_alternative<StartTls>(events.back()));
}

TEST(Conversation, AuthPayloadsNeverReachTheTranscript) {
  const std::vector<Segment> wire{
      {Direction::server_to_client, "220 mx\r\n"},
      {Direction::client_to_server, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"},
      {Direction::server_to_client, "535 5.7.8 Authentication credentials invalid\r\n"},
      {Direction::client_to_server, "AUTH LOGIN\r\n"},
      {Direction::server_to_client, "334 VXNlcm5hbWU6\r\n"},
      {Direction::client_to_server, "YWxpY2U=\r\n"},
      {Direction::server_to_client, "334 UGFzc3dvcmQ6\r\n"},
      {Direction::client_to_server, "c2VjcmV0\r\n"},
      {Direction::server_to_client, "235 2.7.0 Authentication successful\r\n"},
      {Direction::client_to_server, "QUIT\r\n"},
      {Direction::server_to_client, "221 bye\r\n"}};
  const auto events = run_whole(wire);
  const auto commands = all_of<ClientCommand>(events);
  ASSERT_EQ(commands.size(), 5U) << render(events);
  EXPECT_EQ(commands[0].command.transcript_line(), "AUTH PLAIN <redacted>");
  EXPECT_EQ(commands[1].command.transcript_line(), "AUTH LOGIN");
  EXPECT_EQ(commands[2].command.transcript_line(), "<redacted>");
  EXPECT_EQ(commands[2].command.kind, CommandKind::auth_response);
  EXPECT_EQ(commands[3].command.transcript_line(), "<redacted>");
  EXPECT_EQ(commands[4].command.kind, CommandKind::quit);
  const std::string all = render(events);
  EXPECT_EQ(all.find("c2VjcmV0"), std::string::npos);
  EXPECT_EQ(all.find("YWxpY2U"), std::string::npos);
  EXPECT_EQ(all.find("AGFsaWNl"), std::string::npos);
  for (std::size_t cut = 0; cut <= test::wire_size(wire); ++cut) {
    ASSERT_TRUE(run_cut(wire, cut) == events) << "cut=" << cut;
  }
}

TEST(Conversation, SmugglingSequencesAreReportedAndKeptAsContent) {
  const std::vector<Segment> wire{
      {Direction::server_to_client, "220 mx\r\n"},
      {Direction::client_to_server, "DATA\r\n"},
      {Direction::server_to_client, "354 go\r\n"},
      {Direction::client_to_server,
       "Subject: x\r\n\r\nhi\n.\nMAIL FROM:<evil@x>\r\nA\n.\r\nB\r\n.\nC\r\n.\r\nQUIT\r\n"},
      {Direction::server_to_client, "250 ok\r\n221 bye\r\n"}};
  const auto events = run_whole(wire);
  const auto ambiguous = all_of<AmbiguousEndOfData>(events);
  ASSERT_EQ(ambiguous.size(), 3U) << render(events);
  EXPECT_EQ(ambiguous[0].evidence, "Subject: x\r\n\r\nhi\n.\n");
  EXPECT_EQ(ambiguous[1].evidence.substr(ambiguous[1].evidence.size() - 5), "A\n.\r\n");
  EXPECT_EQ(ambiguous[2].evidence.substr(ambiguous[2].evidence.size() - 5), "B\r\n.\n");
  EXPECT_EQ(content_of(events),
            "Subject: x\r\n\r\nhi\n.\nMAIL FROM:<evil@x>\r\nA\n.\r\nB\r\n\nC\r\n");
  const auto commands = all_of<ClientCommand>(events);
  ASSERT_EQ(commands.size(), 2U);  // DATA, QUIT: the smuggled MAIL stays content
  EXPECT_EQ(commands[1].command.kind, CommandKind::quit);
  for (std::size_t cut = 0; cut <= test::wire_size(wire); ++cut) {
    ASSERT_TRUE(run_cut(wire, cut) == events) << "cut=" << cut;
  }
  EXPECT_TRUE(run_bytewise(wire) == events);
}

// A dot line ended by CRs then LF ends DATA for Postfix (it strips every CR before a line's
// LF): reported, and the smuggled commands stay content.
TEST(Conversation, CrRunDotLineIsReportedAndKeptAsContent) {
  const auto events = run_whole(load_transcript("smuggling_cr_run.txt"));
  const auto ambiguous = all_of<AmbiguousEndOfData>(events);
  ASSERT_EQ(ambiguous.size(), 2U) << render(events);
  EXPECT_EQ(ambiguous[0].evidence, "Subject: x\r\n\r\n.\r\r\n");
  EXPECT_EQ(ambiguous[1].evidence.substr(ambiguous[1].evidence.size() - 8), "\r\n\n.\r\r\r\n");
  EXPECT_EQ(content_of(events),
            "Subject: x\r\n\r\n\r\r\nMAIL FROM:<evil@example.com>\r\nhi\r\n\n.\r\r\r\n"
            "RCPT TO:<eve@example.org>\r\n");
  EXPECT_EQ(all_of<MessageEnd>(events).size(), 1U);
  const auto commands = all_of<ClientCommand>(events);
  ASSERT_EQ(commands.size(), 5U) << render(events);  // EHLO MAIL RCPT DATA QUIT
  EXPECT_EQ(commands[1].command.path(), "alice@example.com");
  EXPECT_EQ(commands[2].command.path(), "bob@example.org");
  EXPECT_EQ(commands[4].command.kind, CommandKind::quit);
}

TEST(Conversation, ContentBeforeThe354IsHeldThenFramed) {
  // The sender did not wait for 354; its bytes are held until the reply decides.
  const std::vector<Segment> wire{{Direction::server_to_client, "220 mx\r\n"},
                                  {Direction::client_to_server, "DATA\r\nbody\r\n.\r\nQUIT\r\n"},
                                  {Direction::server_to_client, "354 go\r\n250 ok\r\n221 bye\r\n"}};
  const auto events = run_whole(wire);
  EXPECT_EQ(content_of(events), "body\r\n");
  const auto replies = all_of<ServerReply>(events);
  ASSERT_EQ(replies.size(), 4U);
  EXPECT_EQ(replies[3].in_reply_to->kind, CommandKind::quit);
  EXPECT_TRUE(std::holds_alternative<ServerReply>(events[2]));  // 354 comes before the content
}

// max_pending_bytes at -1, at and +1: bytes held after DATA before its reply.
TEST(Conversation, PendingBytesLimitAtMinusOneAtAndPlusOne) {
  const std::string body = "0123456789\r\n.\r\n";  // 15 bytes
  for (std::size_t limit : {body.size() + 1, body.size(), body.size() - 1}) {
    Limits limits;
    limits.max_pending_bytes = limit;
    const std::vector<Segment> wire{{Direction::server_to_client, "220 mx\r\n"},
                                    {Direction::client_to_server, "DATA\r\n"},
                                    {Direction::client_to_server, body},
                                    {Direction::server_to_client, "354 go\r\n250 ok\r\n"}};
    const auto events = run_whole(wire, limits);
    const auto anomalies = all_of<Anomaly>(events);
    if (limit >= body.size()) {
      EXPECT_TRUE(anomalies.empty()) << "limit=" << limit << "\n" << render(events);
      EXPECT_EQ(content_of(events), "0123456789\r\n");
      ASSERT_EQ(all_of<MessageEnd>(events).size(), 1U);
      EXPECT_TRUE(all_of<MessageEnd>(events)[0].complete);
    } else {
      // The final dot's LF was dropped: the message never ends, so the 250 is unexpected.
      ASSERT_EQ(anomalies.size(), 2U) << render(events);
      EXPECT_EQ(anomalies[0].kind, "pending_overflow");
      EXPECT_EQ(anomalies[1].kind, "unexpected_reply");
      EXPECT_TRUE(all_of<MessageEnd>(events).empty()) << render(events);
    }
  }
}

// max_line_bytes at -1, at and +1 for a command line.
TEST(Conversation, CommandLineLimitAtMinusOneAtAndPlusOne) {
  const std::string line = "NOOP 123456";  // 11 bytes of text
  for (std::size_t limit : {line.size() + 1, line.size(), line.size() - 1}) {
    Limits limits;
    limits.max_line_bytes = limit;
    const auto events = run_whole({{Direction::server_to_client, "220 mx\r\n"},
                                   {Direction::client_to_server, line + "\r\nQUIT\r\n"}},
                                  limits);
    const auto commands = all_of<ClientCommand>(events);
    ASSERT_EQ(commands.size(), 2U) << "limit=" << limit;
    EXPECT_EQ(commands[1].command.kind, CommandKind::quit);
    const auto anomalies = all_of<Anomaly>(events);
    if (limit >= line.size()) {
      EXPECT_TRUE(anomalies.empty());
      EXPECT_EQ(commands[0].command.kind, CommandKind::noop);
    } else {
      ASSERT_EQ(anomalies.size(), 1U);
      EXPECT_EQ(anomalies[0].kind, "line_too_long");
      EXPECT_EQ(commands[0].command.raw, line.substr(0, limit));
      EXPECT_EQ(commands[0].command.kind, CommandKind::other);
    }
  }
}

// max_reply_lines at -1, at and +1.
TEST(Conversation, ReplyLinesLimitAtMinusOneAtAndPlusOne) {
  const std::string ehlo_reply = "250-mx\r\n250-PIPELINING\r\n250 SIZE 10\r\n";  // 3 lines
  for (std::size_t limit : {4U, 3U, 2U}) {
    Limits limits;
    limits.max_reply_lines = limit;
    const auto events = run_whole({{Direction::server_to_client, "220 mx\r\n"},
                                   {Direction::client_to_server, "EHLO a\r\n"},
                                   {Direction::server_to_client, ehlo_reply}},
                                  limits);
    const auto replies = all_of<ServerReply>(events);
    ASSERT_EQ(replies.size(), 2U);
    const auto anomalies = all_of<Anomaly>(events);
    if (limit >= 3) {
      EXPECT_TRUE(anomalies.empty());
      EXPECT_EQ(replies[1].reply.lines.size(), 3U);
    } else {
      ASSERT_EQ(anomalies.size(), 1U);
      EXPECT_EQ(anomalies[0].kind, "reply_too_long");
      EXPECT_EQ(replies[1].reply.lines.size(), 2U);
      EXPECT_EQ(replies[1].reply.dropped_lines, 1U);
    }
  }
}

TEST(Conversation, BadInputBecomesAnomaliesNeverThrows) {
  Limits limits;
  limits.max_reply_lines = 100;
  Conversation c(limits);
  std::vector<Event> events;
  auto drain = [&] {
    while (auto e = c.next()) {
      events.push_back(std::move(*e));
    }
  };
  EXPECT_NO_THROW({
    c.feed_server(std::string("220 mx \0\xff\xfe banner\r\n", 19));
    c.feed_client(std::string("EHLO \0\xc3\x28\r\n", 10));
    c.feed_server("999 what\r\n");
    c.feed_client(std::string(1 << 20, 'A'));
    c.feed_client("\r\nBDAT 99999999999999999999\r\nNOOP\r\nNOOP\r\n");
    c.feed_server("500 too long\r\n501 bad size\r\n");
    for (int i = 0; i < 500; ++i) {
      c.feed_server("250-endless continuation\r\n");
    }
    c.feed_client("bare\n");
    drain();
  });
  std::vector<std::string> kinds;
  for (const auto& a : all_of<Anomaly>(events)) {
    kinds.push_back(a.kind);
  }
  const std::vector<std::string> expected{"malformed_reply", "line_too_long", "bdat_size_invalid",
                                          "reply_too_long", "bare_lf"};
  EXPECT_EQ(kinds, expected) << render(events);
  const auto replies = all_of<ServerReply>(events);
  ASSERT_EQ(replies.size(), 4U) << render(events);
  EXPECT_EQ(replies[0].reply.lines.front(), std::string("220 mx \0\xff\xfe banner", 17));
  EXPECT_EQ(replies[1].reply.code, 0);  // 999: malformed, never guessed
  EXPECT_EQ(replies[1].reply.lines.front(), "999 what");
  EXPECT_EQ(replies[1].in_reply_to->kind, CommandKind::ehlo);
  EXPECT_EQ(replies[3].in_reply_to->verb, "BDAT");
  const auto commands = all_of<ClientCommand>(events);
  ASSERT_EQ(commands.size(), 6U) << render(events);
  EXPECT_EQ(commands[0].command.raw, std::string("EHLO \0\xc3\x28", 8));
  EXPECT_FALSE(commands[2].command.bdat_size.has_value());
  EXPECT_EQ(commands[3].command.kind, CommandKind::noop);  // not swallowed as a chunk
}

}  // namespace
}  // namespace hopscope::smtp
