// Cisco PIX fixup / MailGuard as hopscope sees it (field-facts §1.2): the sender's EHLO
// rewritten to "XXXX" before hopscope, STARTTLS turned into NOOP after hopscope (answered 250,
// not 220), and a sender that greets with HELO while require_starttls is set. The facts are
// those the relay recorded in acceptance repros D1 and D5 (/tmp/acc3, PIX simulator).

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "policy/evaluate.hpp"
#include "policy/signatures.hpp"
#include "policy/verdict.hpp"

namespace hopscope::policy {
namespace {

constexpr std::int64_t now = 1780315200;

TranscriptEntry line(const std::string& dir, const std::string& text) {
  return TranscriptEntry{0, dir, text, std::nullopt};
}

TranscriptEntry content(std::uint64_t bytes) {
  return TranscriptEntry{0, "c>s", "", bytes};
}

const Finding* find(const std::vector<Finding>& findings, FindingId id, const std::string& leg) {
  const auto it = std::find_if(findings.begin(), findings.end(),
                               [&](const Finding& f) { return f.id == id && f.leg == leg; });
  return it == findings.end() ? nullptr : &*it;
}

bool has(const std::vector<Finding>& findings, FindingId id) {
  return std::any_of(findings.begin(), findings.end(),
                     [&](const Finding& f) { return f.id == id; });
}

std::string ids(const std::vector<Finding>& findings) {
  std::string out;
  for (const auto& f : findings) {
    out += std::string(to_string(f.id)) + "/" + f.leg + " ";
  }
  return out;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// --- signatures ---------------------------------------------------------------------------

TEST(PixSignatures, MaskedEhloIsFourXsWithOrWithoutArgument) {
  EXPECT_TRUE(is_masked_ehlo("XXXX vm"));
  EXPECT_TRUE(is_masked_ehlo("XXXX"));
  EXPECT_TRUE(is_masked_ehlo("XXXX mail.fabrikam.com"));
  EXPECT_FALSE(is_masked_ehlo("EHLO vm"));
  EXPECT_FALSE(is_masked_ehlo("XXX vm"));    // three X's: no four-letter verb
  EXPECT_FALSE(is_masked_ehlo("XXXXX vm"));  // five X's: not EHLO's length
  EXPECT_FALSE(is_masked_ehlo("XXXXXXXX"));  // the masked STARTTLS
  EXPECT_FALSE(is_masked_ehlo("XXXA vm"));   // a real word, not a mask
  EXPECT_FALSE(is_masked_ehlo(""));
  EXPECT_FALSE(is_masked_ehlo(" XXXX vm"));
}

// "changes all the characters in the packet to X": the whole EHLO line, argument included.
TEST(PixSignatures, MaskedEhloIsAlsoAWholeLineOfXs) {
  EXPECT_TRUE(is_masked_ehlo("XXXXXXXXXXXXXXXXXXXXXX"));  // "EHLO mail.fabrikam.com"
  EXPECT_TRUE(is_masked_ehlo("XXXXXX"));                  // "EHLO a", the shortest
  EXPECT_TRUE(is_masked_ehlo("XXXXXXX"));
  EXPECT_TRUE(is_masked_ehlo("XXXXXXXXX"));
  EXPECT_FALSE(is_masked_ehlo("XXXXX"));     // shorter than any EHLO line but "XXXX" itself
  EXPECT_FALSE(is_masked_ehlo("XXXXXXXX"));  // 8 bytes: read as the masked STARTTLS
  EXPECT_FALSE(is_masked_ehlo("XXXXXXXXXXA"));
  EXPECT_FALSE(is_masked_ehlo("XXXXXXXXXX vm"));  // a long X verb with an argument: not EHLO
}

TEST(PixSignatures, NoopForStarttlsIsNoopPaddedToEightBytes) {
  EXPECT_TRUE(is_noop_for_starttls("NOOP    "));
  EXPECT_FALSE(is_noop_for_starttls("NOOP"));
  EXPECT_FALSE(is_noop_for_starttls("NOOP   "));    // 7 bytes
  EXPECT_FALSE(is_noop_for_starttls("NOOP     "));  // 9 bytes
  EXPECT_FALSE(is_noop_for_starttls("noop    "));   // PIX writes the verb upper-case
}

TEST(PixSignatures, OnlyTwoTwentyIsTheStarttlsGoAhead) {
  EXPECT_TRUE(is_starttls_reply_not_go_ahead(250));
  EXPECT_TRUE(is_starttls_reply_not_go_ahead(200));
  EXPECT_TRUE(is_starttls_reply_not_go_ahead(299));
  EXPECT_FALSE(is_starttls_reply_not_go_ahead(220));
  EXPECT_FALSE(is_starttls_reply_not_go_ahead(199));
  EXPECT_FALSE(is_starttls_reply_not_go_ahead(300));
  EXPECT_FALSE(is_starttls_reply_not_go_ahead(454));
  EXPECT_FALSE(is_starttls_reply_not_go_ahead(0));
}

// --- D5: STARTTLS turned into NOOP between hopscope and upstream ---------------------------

// Passthrough; upstream's EHLO reply offers STARTTLS (or masks it, `masked_ehlo`); STARTTLS is
// answered "250 2.0.0 Ok"; the sender's ClientHello reaches Postfix as text.
SessionFacts pix_noop_session(bool masked_ehlo) {
  SessionFacts facts;
  facts.upstream.address = "127.0.0.1:31606";
  const std::string tls_line = masked_ehlo ? "250-XXXXXXXA" : "250-STARTTLS";
  facts.upstream.banner = ReplyFacts{220, "", {"220 **************** *****"}};
  facts.upstream.ehlo_reply =
      ReplyFacts{250, "", {"250-mail.contoso.com", "250-PIPELINING", tls_line, "250 8BITMIME"}};
  facts.downstream.helo = "EHLO sender.example";
  facts.downstream.helo_commands = {"EHLO sender.example"};
  for (auto* st : {&facts.upstream.starttls, &facts.downstream.starttls}) {
    st->offered = !masked_ehlo;
    st->attempted = true;
    st->reply = ReplyFacts{250, "2.0.0", {"250 2.0.0 Ok"}};
    st->handshake = "incomplete";
  }
  facts.upstream.starttls.server_plaintext_after_220 =
      PlaintextEvidence{70, "500 5.5.2 Error: bad UTF-8 syntax\r\n500 5.5.2 Error: bad syntax\r\n"};
  facts.downstream.tls_end_to_end = true;
  TlsFacts tls;
  tls.seen = true;
  tls.offered_versions = {"TLSv1.3", "TLSv1.2"};
  facts.upstream.tls = tls;
  facts.transcript = {
      line("s>c", "220 **************** *****"),
      line("c>s", "EHLO sender.example"),
      line("s>c", "250-mail.contoso.com"),
      line("s>c", "250-PIPELINING"),
      line("s>c", tls_line),
      line("s>c", "250 8BITMIME"),
      line("c>s", "STARTTLS"),
      line("s>c", "250 2.0.0 Ok"),
      line("tls", "STARTTLS accepted: TLS bytes are spliced from here"),
  };
  facts.downstream.closed_first = true;
  facts.end.reason = EndReason::client_closed;
  return facts;
}

TEST(PixNoop, StarttlsAnsweredTwoFiftyIsMaskedUpstreamNotInjection) {
  const auto facts = pix_noop_session(false);
  const auto findings = evaluate(facts, {}, config::PolicyConfig{}, now);
  const auto* masked = find(findings, FindingId::starttls_masked, "upstream");
  ASSERT_NE(masked, nullptr) << ids(findings);
  EXPECT_EQ(masked->severity, Severity::critical);
  EXPECT_TRUE(contains(masked->evidence, "command \"STARTTLS\" answered \"250 2.0.0 Ok\""))
      << masked->evidence;
  EXPECT_TRUE(contains(masked->evidence, "500 5.5.2 Error: bad UTF-8 syntax")) << masked->evidence;
  EXPECT_TRUE(contains(masked->summary, "not 220")) << masked->summary;
  EXPECT_TRUE(contains(masked->remedy, "no fixup protocol smtp 25")) << masked->remedy;
  EXPECT_TRUE(contains(masked->remedy, "allow-tls")) << masked->remedy;
  EXPECT_TRUE(contains(masked->remedy, "NOOP")) << masked->remedy;
  EXPECT_FALSE(has(findings, FindingId::starttls_injection)) << ids(findings);
  EXPECT_FALSE(has(findings, FindingId::starttls_rejected)) << ids(findings);
}

// A server whose go-ahead is an odd 250 and whose TLS then works is no PIX: a NOOP answered
// 250 can never end in a finished handshake.
TEST(PixNoop, StarttlsAnsweredTwoFiftyWithAFinishedHandshakeIsNotMasked) {
  auto facts = pix_noop_session(false);
  for (auto* st : {&facts.upstream.starttls, &facts.downstream.starttls}) {
    st->handshake = "ok";
  }
  facts.upstream.starttls.server_plaintext_after_220.reset();
  const auto findings = evaluate(facts, {}, config::PolicyConfig{}, now);
  EXPECT_FALSE(has(findings, FindingId::starttls_masked)) << ids(findings);
}

TEST(PixNoop, VerdictLeadsWithTheRewrittenStarttls) {
  const auto facts = pix_noop_session(false);
  const auto findings = evaluate(facts, {}, config::PolicyConfig{}, now);
  const auto* failed = find(findings, FindingId::tls_handshake_failed, "upstream");
  ASSERT_NE(failed, nullptr) << ids(findings);
  // It quotes the reply TLS followed, not a 220 that never came.
  EXPECT_FALSE(contains(failed->summary + failed->evidence, "220")) << failed->evidence;
  EXPECT_TRUE(contains(failed->summary + failed->evidence, "\"250\"")) << failed->evidence;
  const auto line = verdict(facts, findings);
  EXPECT_EQ(line.rfind("hop \"upstream\" answered STARTTLS with \"250 2.0.0 Ok\", not 220", 0), 0U)
      << line;
}

TEST(PixNoop, MaskedEhloReplyAndNoopStarttlsMakeOneFindingLedByTheNoop) {
  const auto facts = pix_noop_session(true);
  const auto findings = evaluate(facts, {}, config::PolicyConfig{}, now);
  const auto count = std::count_if(findings.begin(), findings.end(), [](const Finding& f) {
    return f.id == FindingId::starttls_masked;
  });
  EXPECT_EQ(count, 1) << ids(findings);
  const auto* masked = find(findings, FindingId::starttls_masked, "upstream");
  ASSERT_NE(masked, nullptr) << ids(findings);
  EXPECT_TRUE(contains(masked->summary, "answered STARTTLS with")) << masked->summary;
  EXPECT_TRUE(contains(masked->evidence, "\"250-XXXXXXXA\"")) << masked->evidence;
  EXPECT_TRUE(contains(masked->evidence, "\"250 2.0.0 Ok\"")) << masked->evidence;
  EXPECT_FALSE(has(findings, FindingId::starttls_injection)) << ids(findings);
}

TEST(PixNoop, PlaintextAfterARealTwoTwentyIsStillInjection) {
  auto facts = pix_noop_session(false);
  for (auto* st : {&facts.upstream.starttls, &facts.downstream.starttls}) {
    st->reply = ReplyFacts{220, "2.0.0", {"220 2.0.0 Ready to start TLS"}};
  }
  facts.transcript[7] = line("s>c", "220 2.0.0 Ready to start TLS");
  const auto findings = evaluate(facts, {}, config::PolicyConfig{}, now);
  EXPECT_NE(find(findings, FindingId::starttls_injection, "upstream"), nullptr) << ids(findings);
  EXPECT_FALSE(has(findings, FindingId::starttls_masked)) << ids(findings);
}

TEST(PixNoop, NoopPaddedToStarttlsLengthBeforeHopscopeIsMaskedDownstream) {
  SessionFacts facts;
  facts.upstream.address = "10.0.0.5:25";
  facts.upstream.ehlo_reply = ReplyFacts{250, "", {"250-mail.contoso.com", "250 STARTTLS"}};
  facts.upstream.starttls.offered = true;
  facts.downstream.starttls.offered = true;
  facts.downstream.helo = "EHLO sender.example";
  facts.downstream.helo_commands = {"EHLO sender.example"};
  facts.transcript = {
      line("s>c", "220 mail.contoso.com ESMTP"),
      line("c>s", "EHLO sender.example"),
      line("s>c", "250-mail.contoso.com"),
      line("s>c", "250 STARTTLS"),
      line("c>s", "NOOP    "),
      line("s>c", "250 2.0.0 Ok"),
      line("c>s", "MAIL FROM:<a@example.org>"),
      line("s>c", "250 2.1.0 Ok"),
  };
  facts.end.reason = EndReason::quit;
  const auto findings = evaluate(facts, {}, config::PolicyConfig{}, now);
  const auto* masked = find(findings, FindingId::starttls_masked, "downstream");
  ASSERT_NE(masked, nullptr) << ids(findings);
  EXPECT_TRUE(contains(masked->evidence, "command \"NOOP    \" answered \"250 2.0.0 Ok\""))
      << masked->evidence;
  // The sender did send STARTTLS; not "it chose not to use it".
  EXPECT_FALSE(has(findings, FindingId::starttls_not_used)) << ids(findings);
}

// --- D1: EHLO masked before hopscope; HELO senders ----------------------------------------

SessionFacts helo_session(const std::vector<TranscriptEntry>& greeting) {
  SessionFacts facts;
  facts.upstream.address = "127.0.0.1:31025";
  facts.upstream.banner = ReplyFacts{220, "", {"220 mail.contoso.com ESMTP"}};
  facts.upstream.helo_reply = ReplyFacts{250, "", {"250 mail.contoso.com"}};
  facts.downstream.helo = "HELO vm";
  facts.downstream.helo_commands = {"HELO vm"};
  facts.transcript = {line("s>c", "220 mail.contoso.com ESMTP")};
  facts.transcript.insert(facts.transcript.end(), greeting.begin(), greeting.end());
  for (const auto& e : {
           line("c>s", "HELO vm"),
           line("s>c", "250 mail.contoso.com"),
           line("c>s", "MAIL FROM:<b@fabrikam.com>"),
           line("s>c", "250 2.1.0 Ok"),
           line("c>s", "RCPT TO:<a@contoso.com>"),
           line("s>c", "250 2.1.5 Ok"),
           line("c>s", "DATA"),
           line("s>c", "354 End data with <CR><LF>.<CR><LF>"),
           content(258),
           line("s>c", "250 2.0.0 Ok: queued as C0820AB88DA"),
           line("c>s", "QUIT"),
           line("s>c", "221 2.0.0 Bye"),
       }) {
    facts.transcript.push_back(e);
  }
  MessageFacts m;
  m.mail_from = "b@fabrikam.com";
  m.rcpt_to = {"a@contoso.com"};
  m.reply = ReplyFacts{250, "2.0.0", {"250 2.0.0 Ok: queued as C0820AB88DA"}};
  facts.messages = {m};
  facts.end.reason = EndReason::quit;
  return facts;
}

SessionFacts pix_before_hopscope_session() {
  return helo_session(
      {line("c>s", "XXXX vm"), line("s>c", "500 5.5.2 Error: command not recognized")});
}

TEST(PixEhlo, EhloMaskedBeforeHopscopeIsRejectedDownstream) {
  const auto facts = pix_before_hopscope_session();
  const auto findings = evaluate(facts, {}, config::PolicyConfig{}, now);
  const auto* rejected = find(findings, FindingId::ehlo_rejected, "downstream");
  ASSERT_NE(rejected, nullptr) << ids(findings);
  EXPECT_EQ(rejected->severity, Severity::critical);
  EXPECT_EQ(rejected->evidence,
            "command \"XXXX vm\" answered \"500 5.5.2 Error: command not recognized\"; then "
            "\"HELO vm\" answered \"250 mail.contoso.com\"");
  EXPECT_TRUE(contains(rejected->summary, "fell back to HELO")) << rejected->summary;
  EXPECT_TRUE(contains(rejected->remedy, "no fixup protocol smtp 25")) << rejected->remedy;
  EXPECT_TRUE(contains(rejected->remedy, "between the sending server and hopscope"))
      << rejected->remedy;
  EXPECT_EQ(find(findings, FindingId::ehlo_rejected, "upstream"), nullptr) << ids(findings);
  // One root cause, one finding: the HELO that follows is EHLO_REJECTED's, not a HELO sender's.
  EXPECT_FALSE(has(findings, FindingId::starttls_not_offered)) << ids(findings);
}

TEST(PixEhlo, WholeLineMaskedEhloBeforeHopscopeIsRejectedDownstream) {
  const auto facts = helo_session({line("c>s", "XXXXXXXXXXXXXXXXXXXXXX"),
                                   line("s>c", "500 5.5.2 Error: command not recognized")});
  const auto findings = evaluate(facts, {}, config::PolicyConfig{}, now);
  const auto* rejected = find(findings, FindingId::ehlo_rejected, "downstream");
  ASSERT_NE(rejected, nullptr) << ids(findings);
  EXPECT_EQ(rejected->evidence,
            "command \"XXXXXXXXXXXXXXXXXXXXXX\" answered \"500 5.5.2 Error: command not "
            "recognized\"; then \"HELO vm\" answered \"250 mail.contoso.com\"");
  EXPECT_TRUE(contains(rejected->summary, "fell back to HELO")) << rejected->summary;
  EXPECT_FALSE(has(findings, FindingId::starttls_not_offered)) << ids(findings);
}

TEST(PixEhlo, EhloMaskedBeforeHopscopeIsNotCalledClean) {
  const auto facts = pix_before_hopscope_session();
  const auto line = verdict(facts, evaluate(facts, {}, config::PolicyConfig{}, now));
  EXPECT_EQ(line.rfind("the sender's EHLO reached hopscope as X's", 0), 0U) << line;
}

TEST(PixEhlo, MaskedEhloWithoutFallbackStillNamesTheDevice) {
  SessionFacts facts;
  facts.upstream.address = "127.0.0.1:31025";
  facts.upstream.banner = ReplyFacts{220, "", {"220 mail.contoso.com ESMTP"}};
  facts.transcript = {
      line("s>c", "220 mail.contoso.com ESMTP"),
      line("c>s", "XXXX"),
      line("s>c", "502 5.5.2 Error: command not recognized"),
      line("c>s", "QUIT"),
      line("s>c", "221 2.0.0 Bye"),
  };
  const auto findings = evaluate(facts, {}, config::PolicyConfig{}, now);
  const auto* rejected = find(findings, FindingId::ehlo_rejected, "downstream");
  ASSERT_NE(rejected, nullptr) << ids(findings);
  EXPECT_TRUE(contains(rejected->summary, "blocks ESMTP")) << rejected->summary;
}

TEST(PixEhlo, XsAfterTheGreetingAreNotAMaskedEhlo) {
  auto facts = helo_session({});
  // A masked four-letter command after HELO (say BDAT) is not the sender's EHLO.
  facts.transcript.insert(facts.transcript.begin() + 3,
                          {line("c>s", "XXXX 100"), line("s>c", "500 5.5.2 Error")});
  const auto findings = evaluate(facts, {}, config::PolicyConfig{}, now);
  EXPECT_FALSE(has(findings, FindingId::ehlo_rejected)) << ids(findings);
}

TEST(PixEhlo, EhloRefusedByUpstreamItselfStaysUpstream) {
  auto facts = helo_session(
      {line("c>s", "EHLO vm"), line("s>c", "500 5.5.2 Error: command not recognized")});
  facts.downstream.helo = "EHLO vm";
  facts.downstream.helo_commands = {"EHLO vm", "HELO vm"};
  facts.upstream.ehlo_reply = ReplyFacts{500, "5.5.2", {"500 5.5.2 Error: command not recognized"}};
  const auto findings = evaluate(facts, {}, config::PolicyConfig{}, now);
  EXPECT_NE(find(findings, FindingId::ehlo_rejected, "upstream"), nullptr) << ids(findings);
  EXPECT_EQ(find(findings, FindingId::ehlo_rejected, "downstream"), nullptr) << ids(findings);
  EXPECT_FALSE(has(findings, FindingId::starttls_not_offered)) << ids(findings);
}

TEST(HeloSender, MailInClearAfterHeloIsStarttlsNotOfferedDownstream) {
  const auto facts = helo_session({});
  const auto findings = evaluate(facts, {}, config::PolicyConfig{}, now);
  const auto* not_offered = find(findings, FindingId::starttls_not_offered, "downstream");
  ASSERT_NE(not_offered, nullptr) << ids(findings);
  EXPECT_EQ(not_offered->severity, Severity::critical);
  EXPECT_EQ(not_offered->evidence,
            "the sender said \"HELO vm\" answered \"250 mail.contoso.com\": no ESMTP extension, "
            "so no STARTTLS, can be offered; then in clear \"MAIL FROM:<b@fabrikam.com>\" "
            "answered \"250 2.1.0 Ok\"");
  EXPECT_TRUE(contains(not_offered->remedy, "EHLO")) << not_offered->remedy;
  EXPECT_TRUE(contains(not_offered->remedy, "no fixup protocol smtp 25")) << not_offered->remedy;
  EXPECT_EQ(find(findings, FindingId::starttls_not_offered, "upstream"), nullptr) << ids(findings);
  const auto line = verdict(facts, findings);
  EXPECT_EQ(line.rfind("the sender greeted with HELO", 0), 0U) << line;
}

TEST(HeloSender, HeloIsFineWhenStarttlsIsNotRequired) {
  const auto facts = helo_session({});
  config::PolicyConfig policy;
  policy.require_starttls = false;
  const auto findings = evaluate(facts, {}, policy, now);
  EXPECT_TRUE(findings.empty()) << ids(findings);
  EXPECT_EQ(verdict(facts, findings).rfind("clean", 0), 0U);
}

TEST(HeloSender, HeloAndQuitWithoutMailIsNoFinding) {
  SessionFacts facts;
  facts.upstream.address = "127.0.0.1:31025";
  facts.upstream.banner = ReplyFacts{220, "", {"220 mail.contoso.com ESMTP"}};
  facts.upstream.helo_reply = ReplyFacts{250, "", {"250 mail.contoso.com"}};
  facts.downstream.helo = "HELO lb-health";
  facts.downstream.helo_commands = {"HELO lb-health"};
  facts.transcript = {
      line("s>c", "220 mail.contoso.com ESMTP"),
      line("c>s", "HELO lb-health"),
      line("s>c", "250 mail.contoso.com"),
      line("c>s", "QUIT"),
      line("s>c", "221 2.0.0 Bye"),
  };
  const auto findings = evaluate(facts, {}, config::PolicyConfig{}, now);
  EXPECT_FALSE(has(findings, FindingId::starttls_not_offered)) << ids(findings);
}

TEST(HeloSender, EhloSenderIsJudgedOnTheEhloReplyAsBefore) {
  auto facts = helo_session({});
  facts.downstream.helo = "EHLO vm";
  facts.downstream.helo_commands = {"EHLO vm"};
  facts.transcript[1] = line("c>s", "EHLO vm");
  facts.upstream.helo_reply.reset();
  facts.upstream.ehlo_reply = ReplyFacts{250, "", {"250-mail.contoso.com", "250 8BITMIME"}};
  facts.transcript[2] = line("s>c", "250 mail.contoso.com");
  const auto findings = evaluate(facts, {}, config::PolicyConfig{}, now);
  EXPECT_NE(find(findings, FindingId::starttls_not_offered, "upstream"), nullptr) << ids(findings);
  EXPECT_EQ(find(findings, FindingId::starttls_not_offered, "downstream"), nullptr)
      << ids(findings);
}

}  // namespace
}  // namespace hopscope::policy
