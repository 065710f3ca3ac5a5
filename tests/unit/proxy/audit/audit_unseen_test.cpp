// The audit document records only what was seen: what a passive observer cannot see (the
// client-certificate exchange in TLS 1.3 or a resumed session, RFC 8446 §4.3.2 / §4.4.2,
// RFC 5246 §7.3) and verification that was not done are null, never false or [].

#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "proxy/audit_json.hpp"
#include "sample_facts.hpp"

namespace hopscope {
namespace {

namespace json = boost::json;

json::value document(const SessionFacts& facts) {
  return json::parse(to_json(facts, {}, "", {}));
}

// Passthrough, the handshake seen on the wire, no certificate of either side visible.
SessionFacts passthrough(const std::string& version, bool resumed) {
  auto facts = test::sample_facts();
  facts.mode = "passthrough";
  auto& tls = *facts.upstream.tls;
  tls.source = "handshake";
  tls.version = version;
  tls.resumed = resumed;
  tls.client_certificate_requested = false;
  tls.client_certificates.clear();
  tls.server_certificates.clear();
  tls.verification = tls::VerificationFacts{};  // the pipeline verifies no empty chain
  return facts;
}

TEST(AuditUnseen, Tls13ClientCertificateExchangeIsNullNotFalse) {
  const auto doc = document(passthrough("TLSv1.3", false));
  EXPECT_TRUE(doc.at_pointer("/upstream/tls/client_certificate_requested").is_null()) << doc;
  EXPECT_TRUE(doc.at_pointer("/upstream/tls/client_certificates").is_null()) << doc;
  // The server's chain is encrypted as well: null, as the client's (a side probe would fill it).
  EXPECT_TRUE(doc.at_pointer("/upstream/tls/server_certificates").is_null()) << doc;
}

TEST(AuditUnseen, ResumedTls12ClientCertificateExchangeIsNull) {
  const auto doc = document(passthrough("TLSv1.2", true));
  EXPECT_TRUE(doc.at_pointer("/upstream/tls/client_certificate_requested").is_null()) << doc;
  EXPECT_TRUE(doc.at_pointer("/upstream/tls/client_certificates").is_null()) << doc;
  EXPECT_TRUE(doc.at_pointer("/upstream/tls/server_certificates").is_null()) << doc;
}

TEST(AuditUnseen, FullTls12HandshakeRecordsWhatWasSeen) {
  auto facts = passthrough("TLSv1.2", false);
  const auto doc = document(facts);
  EXPECT_FALSE(doc.at_pointer("/upstream/tls/client_certificate_requested").as_bool());
  EXPECT_TRUE(doc.at_pointer("/upstream/tls/client_certificates").as_array().empty());
  EXPECT_TRUE(doc.at_pointer("/upstream/tls/server_certificates").as_array().empty());

  facts.upstream.tls->client_certificate_requested = true;
  facts.upstream.tls->client_certificates.push_back(test::sample_certificate());
  const auto seen = document(facts);
  EXPECT_TRUE(seen.at_pointer("/upstream/tls/client_certificate_requested").as_bool());
  EXPECT_EQ(seen.at_pointer("/upstream/tls/client_certificates").as_array().size(), 1U);
}

TEST(AuditUnseen, ProbedChainDoesNotStandForTheSendersCertificate) {
  auto facts = passthrough("TLSv1.2", false);
  facts.upstream.tls->source = "probe";
  const auto doc = document(facts);
  EXPECT_TRUE(doc.at_pointer("/upstream/tls/client_certificate_requested").is_null()) << doc;
  EXPECT_TRUE(doc.at_pointer("/upstream/tls/client_certificates").is_null()) << doc;
}

TEST(AuditUnseen, InspectModeShowsEveryLegsClientCertificateInTls13) {
  auto facts = passthrough("TLSv1.3", false);
  facts.mode = "inspect";
  facts.downstream.tls_end_to_end = false;
  facts.downstream.tls = facts.upstream.tls;
  const auto doc = document(facts);
  for (const auto* leg : {"/downstream", "/upstream"}) {
    const std::string tls = std::string(leg) + "/tls";
    EXPECT_FALSE(doc.at_pointer(tls + "/client_certificate_requested").as_bool()) << leg;
    EXPECT_TRUE(doc.at_pointer(tls + "/client_certificates").as_array().empty()) << leg;
  }
}

TEST(AuditUnseen, NoChainMeansNothingVerifiedAndNothingMatchedAgainst) {
  const auto doc = document(passthrough("TLSv1.3", false));
  const auto& v = doc.at_pointer("/upstream/tls/verification").as_object();
  EXPECT_FALSE(v.at("checked").as_bool());
  EXPECT_TRUE(v.at("trusted").is_null()) << doc;
  EXPECT_TRUE(v.at("error").is_null());
  EXPECT_TRUE(v.at("name_matched").is_null());
  EXPECT_TRUE(v.at("matched_name").is_null());
  EXPECT_TRUE(v.at("expected_names").is_null()) << doc;
}

TEST(AuditUnseen, ChainCutByHopscopeIsNeitherTrustedNorUntrusted) {
  auto facts = passthrough("TLSv1.2", false);
  auto& tls = *facts.upstream.tls;
  tls.server_certificates.push_back(test::sample_certificate());
  tls.verification.checked = false;
  tls.verification.error =
      "not verified: hopscope keeps at most 16 certificates of a chain and the issuer of chain "
      "certificate 15 was not among them: it may have been one of those cut off (OpenSSL: "
      "unable to get local issuer certificate)";
  tls.verification.name_matched = true;
  tls.verification.matched_name = "mail.contoso.com";
  tls.verification.expected_names = {"mail.contoso.com"};
  const auto doc = document(facts);
  const auto& v = doc.at_pointer("/upstream/tls/verification").as_object();
  EXPECT_FALSE(v.at("checked").as_bool());
  EXPECT_TRUE(v.at("trusted").is_null()) << doc;
  EXPECT_EQ(v.at("error").as_string(), tls.verification.error);
  EXPECT_EQ(v.at("error_depth").to_number<int>(), -1);
  EXPECT_TRUE(v.at("name_matched").as_bool());
  EXPECT_EQ(v.at("expected_names").as_array().size(), 1U);
}

TEST(AuditUnseen, VerifiedChainKeepsItsVerdict) {
  const auto doc = document(test::sample_facts());  // self-signed, checked, not trusted
  const auto& v = doc.at_pointer("/upstream/tls/verification").as_object();
  EXPECT_TRUE(v.at("checked").as_bool());
  EXPECT_FALSE(v.at("trusted").as_bool());
  EXPECT_EQ(v.at("expected_names").as_array().size(), 1U);
}

}  // namespace
}  // namespace hopscope
