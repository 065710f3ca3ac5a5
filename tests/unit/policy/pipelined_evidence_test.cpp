// STARTTLS_NOT_USED evidence pairs each command with its own reply, also when a sender
// pipelines EHLO, MAIL, RCPT and DATA in one write (RFC 2920 §3.1 forbids EHLO anywhere but
// last in a group; spam senders do it anyway): replies come in command order (RFC 2920 §3).

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "policy/evaluate.hpp"

namespace hopscope::policy {
namespace {

TranscriptEntry line(const std::string& dir, const std::string& text) {
  return TranscriptEntry{0, dir, text, std::nullopt};
}

SessionFacts not_used_session() {
  SessionFacts facts;
  facts.upstream.address = "10.0.0.5:25";
  facts.downstream.starttls.offered = true;
  facts.upstream.starttls.offered = true;
  facts.upstream.ehlo_reply =
      ReplyFacts{250, "", {"250-mail.contoso.com", "250-PIPELINING", "250 STARTTLS"}};
  facts.transcript = {
      line("s>c", "220 mail.contoso.com ESMTP"),
      line("c>s", "EHLO spam.example.org"),
      line("c>s", "MAIL FROM:<a@example.org>"),
      line("c>s", "RCPT TO:<b@contoso.com>"),
      line("c>s", "DATA"),
      line("s>c", "250-mail.contoso.com"),
      line("s>c", "250-PIPELINING"),
      line("s>c", "250 STARTTLS"),
      line("s>c", "250 2.1.0 Sender OK"),
      line("s>c", "250 2.1.5 Recipient OK"),
      line("s>c", "354 Start mail input"),
      TranscriptEntry{0, "c>s", "", 300},
      line("s>c", "250 2.6.0 Queued mail for delivery"),
  };
  facts.end.reason = EndReason::quit;
  return facts;
}

std::string not_used_evidence(const SessionFacts& facts) {
  const auto findings = evaluate(facts, {}, config::PolicyConfig{}, 1780315200);
  const auto it = std::find_if(findings.begin(), findings.end(), [](const Finding& f) {
    return f.id == FindingId::starttls_not_used;
  });
  return it == findings.end() ? "<no STARTTLS_NOT_USED>" : it->evidence;
}

constexpr const char* mail_with_its_reply =
    "offered \"250 STARTTLS\"; then in clear \"MAIL FROM:<a@example.org>\" answered "
    "\"250 2.1.0 Sender OK\"";

TEST(PipelinedEvidence, MailIsPairedWithItsOwnReplyNotTheEhloReply) {
  EXPECT_EQ(not_used_evidence(not_used_session()), mail_with_its_reply);
}

// An early talker: the whole group arrives before upstream's greeting (the relay connects to
// upstream first, so the banner comes late). The first reply is still the greeting
// (RFC 5321 §3.1, §4.3.1), as the codec pairs it (proxy/smtp/conversation.cpp), not the
// answer to EHLO.
TEST(PipelinedEvidence, CommandsSentBeforeTheGreetingKeepTheirOwnReplies) {
  auto facts = not_used_session();
  auto& t = facts.transcript;
  std::rotate(t.begin(), t.begin() + 1, t.begin() + 5);  // the banner after the four commands
  ASSERT_EQ(t[4].line, "220 mail.contoso.com ESMTP");
  EXPECT_EQ(not_used_evidence(facts), mail_with_its_reply);
}

// A go-ahead to DATA other than 354 (RFC 5321 §4.2.1: any 3yz; senders go by the class): the
// reply after the content answers the content, not nothing.
TEST(PipelinedEvidence, ReplyAfterContentSentOnAnyThreeYzAnswersTheContent) {
  for (const char* go_ahead : {"354 Start mail input", "350 Go ahead"}) {
    auto facts = not_used_session();
    auto& t = facts.transcript;
    t[10] = line("s>c", go_ahead);
    t[12] = line("s>c", "451 5.7.3 Must issue a STARTTLS command first");
    const auto findings = evaluate(facts, {}, config::PolicyConfig{}, 1780315200);
    const auto it = std::find_if(findings.begin(), findings.end(), [](const Finding& f) {
      return f.id == FindingId::remote_tls_error;
    });
    ASSERT_NE(it, findings.end()) << go_ahead;
    EXPECT_EQ(it->evidence.rfind("\"<message content>\" answered", 0), 0U)
        << go_ahead << ": " << it->evidence;
  }
}

}  // namespace
}  // namespace hopscope::policy
