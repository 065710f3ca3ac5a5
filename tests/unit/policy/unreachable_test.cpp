// UPSTREAM_UNREACHABLE texts: the evidence says the address and the error once each, and the
// remedy names the port hopscope actually connected to, not SMTP's usual 25.
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "policy/evaluate.hpp"
#include "policy/hop_checks.hpp"

namespace hopscope::policy {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) {
    ++n;
  }
  return n;
}

SessionFacts refused(const std::string& address, const std::string& connect_error) {
  SessionFacts facts;
  facts.upstream.address = address;
  facts.upstream.connect_error = connect_error;
  facts.end.reason = EndReason::upstream_unreachable;
  facts.end.detail = connect_error;
  return facts;
}

// The relay records connect_error as "connect to ADDRESS: why" (proxy/session.cpp).
TEST(UpstreamUnreachable, EvidenceSaysTheAddressAndTheErrorOnce) {
  const auto findings =
      evaluate(refused("127.0.0.1:33999", "connect to 127.0.0.1:33999: Connection refused"), {},
               config::PolicyConfig{}, 0);
  ASSERT_EQ(findings.size(), 1U);
  const auto& f = findings[0];
  EXPECT_EQ(f.evidence, "connect to 127.0.0.1:33999: Connection refused");
  EXPECT_EQ(count(f.summary, "127.0.0.1:33999"), 1U) << f.summary;
  EXPECT_THAT(f.summary, HasSubstr("Connection refused"));
}

TEST(UpstreamUnreachable, EvidenceKeepsTheSourceAddressAndATimeout) {
  auto facts = refused("10.0.0.5:2525", "connect to 10.0.0.5:2525 timed out after 30 s");
  facts.upstream.local = "10.0.0.9:40000";
  const auto findings = evaluate(facts, {}, config::PolicyConfig{}, 0);
  ASSERT_EQ(findings.size(), 1U);
  EXPECT_EQ(findings[0].evidence,
            "connect to 10.0.0.5:2525 from 10.0.0.9:40000: timed out after 30 s");
}

TEST(UpstreamUnreachable, BareErrorTextIsStillPrefixedWithTheAddress) {
  const auto findings =
      evaluate(refused("10.0.0.5:25", "Connection refused"), {}, config::PolicyConfig{}, 0);
  ASSERT_EQ(findings.size(), 1U);
  EXPECT_EQ(findings[0].evidence, "connect to 10.0.0.5:25: Connection refused");
}

TEST(UpstreamUnreachable, ErrorOfALongerPortIsNotCutAtAShorterAddress) {
  const auto findings =
      evaluate(refused("10.0.0.5:25", "connect to 10.0.0.5:2525: Connection refused"), {},
               config::PolicyConfig{}, 0);
  ASSERT_EQ(findings.size(), 1U);
  EXPECT_EQ(findings[0].evidence,
            "connect to 10.0.0.5:25: connect to 10.0.0.5:2525: Connection refused");
}

TEST(UpstreamUnreachable, RemedyNamesTheConfiguredPort) {
  const auto findings =
      evaluate(refused("127.0.0.1:33999", "connect to 127.0.0.1:33999: Connection refused"), {},
               config::PolicyConfig{}, 0);
  ASSERT_EQ(findings.size(), 1U);
  EXPECT_THAT(findings[0].remedy, HasSubstr("port 33999"));
  EXPECT_THAT(findings[0].remedy, Not(HasSubstr("port 25")));
  EXPECT_THAT(findings[0].remedy, HasSubstr("450 4.4.316"));  // the general text stays
}

TEST(UpstreamUnreachable, RemedyNamesTheIpv6UpstreamPort) {
  const auto findings = evaluate(refused("[::1]:587", "connect to [::1]:587: Connection refused"),
                                 {}, config::PolicyConfig{}, 0);
  ASSERT_EQ(findings.size(), 1U);
  EXPECT_THAT(findings[0].remedy, HasSubstr("port 587"));
  EXPECT_THAT(findings[0].remedy, Not(HasSubstr("port 25")));
  EXPECT_EQ(findings[0].evidence, "connect to [::1]:587: Connection refused");
}

TEST(UpstreamUnreachable, HopRemedyNamesTheHopPort) {
  HopFacts hop;
  hop.name = "exchange";
  hop.address = "10.0.0.5:2525";
  hop.error = "Connection timed out";
  FindingList out;
  check_hop(hop, config::PolicyConfig{}, 0, out);
  const auto findings = out.take();
  ASSERT_EQ(findings.size(), 1U);
  EXPECT_THAT(findings[0].remedy, HasSubstr("port 2525"));
  EXPECT_THAT(findings[0].remedy, Not(HasSubstr("port 25 ")));
}

}  // namespace
}  // namespace hopscope::policy
