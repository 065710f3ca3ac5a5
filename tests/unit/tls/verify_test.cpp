#include "tls/verify.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "test_certificates.hpp"
#include "tls/certificate_reader.hpp"

namespace hopscope::tls {
namespace {

namespace t = testing;
using Names = std::vector<std::string>;

// A Verifier over a PEM bundle of `anchors`, written to a fresh temp dir.
Verifier bundle_verifier(const std::vector<const t::Issued*>& anchors) {
  const t::TempDir dir;
  std::string bundle;
  for (const auto* anchor : anchors) {
    bundle += t::pem(*anchor);
  }
  std::string error;
  auto verifier = Verifier::load(dir.write("bundle.pem", bundle), &error);
  if (!verifier) {
    throw std::runtime_error(error);
  }
  return *verifier;  // the store is in memory: the file may go now
}

const Verifier& contoso_verifier() {
  static const Verifier verifier = bundle_verifier({&t::contoso_pki().root});
  return verifier;
}

Names full_chain() {
  return {t::contoso_pki().leaf.der, t::contoso_pki().intermediate.der};
}

// ---- RFC 6125 name matching -------------------------------------------------------------

TEST(NameMatches, ExactNamesIgnoreCase) {
  EXPECT_TRUE(name_matches("mail.contoso.com", "mail.contoso.com"));
  EXPECT_TRUE(name_matches("MAIL.Contoso.com", "mail.CONTOSO.COM"));
  EXPECT_FALSE(name_matches("mail.contoso.com", "mail.contoso.org"));
  EXPECT_FALSE(name_matches("mail.contoso.com", "mail.contoso.co"));
  EXPECT_FALSE(name_matches("", ""));
  EXPECT_FALSE(name_matches("mail.contoso.com", ""));
}

TEST(NameMatches, TrailingDotIsIgnored) {
  EXPECT_TRUE(name_matches("mail.contoso.com", "mail.contoso.com."));
  EXPECT_TRUE(name_matches("mail.contoso.com.", "mail.contoso.com"));
}

TEST(NameMatches, WildcardCoversExactlyOneLabel) {
  EXPECT_TRUE(name_matches("*.contoso.com", "mail.contoso.com"));
  EXPECT_TRUE(name_matches("*.CONTOSO.com", "Mail.contoso.COM"));
  EXPECT_FALSE(name_matches("*.contoso.com", "a.b.contoso.com"));
  EXPECT_FALSE(name_matches("*.contoso.com", "contoso.com"));
  EXPECT_FALSE(name_matches("*.contoso.com", ".contoso.com"));
  EXPECT_FALSE(name_matches("*.contoso.com", "mail.contoso.org"));
}

TEST(NameMatches, PartialAndMisplacedWildcardsMatchNothing) {
  EXPECT_FALSE(name_matches("mail*.contoso.com", "mail1.contoso.com"));
  EXPECT_FALSE(name_matches("*mail.contoso.com", "xmail.contoso.com"));
  EXPECT_FALSE(name_matches("m*l.contoso.com", "mail.contoso.com"));
  EXPECT_FALSE(name_matches("mail.*.com", "mail.contoso.com"));
  EXPECT_FALSE(name_matches("*.*.com", "mail.contoso.com"));
  EXPECT_FALSE(name_matches("**.contoso.com", "mail.contoso.com"));
  EXPECT_FALSE(name_matches("*", "localhost"));
  EXPECT_FALSE(name_matches("*.com", "contoso.com"));
}

TEST(NameMatches, HostIsNeverAPattern) {
  EXPECT_FALSE(name_matches("*.contoso.com", "*.contoso.com"));
  EXPECT_FALSE(name_matches("mail.contoso.com", "*.contoso.com"));
}

TEST(NameMatches, ALabelsCompareAsAscii) {
  EXPECT_TRUE(name_matches("xn--mller-kva.contoso.com", "XN--MLLER-KVA.contoso.com"));
  EXPECT_TRUE(name_matches("*.xn--bcher-kva.example", "mail.xn--bcher-kva.example"));
  EXPECT_TRUE(name_matches("*.contoso.com", "xn--mller-kva.contoso.com"));
  EXPECT_FALSE(name_matches("xn--*.contoso.com", "xn--mller-kva.contoso.com"));
}

// Cross-check with OpenSSL's own RFC 6125 matcher (X509_check_host without partial
// wildcards) on the same SAN: the two must never disagree.
TEST(NameMatches, AgreesWithOpensslCheckHost) {
  const Names patterns{
      "mail.contoso.com",          "*.contoso.com",          "*.CONTOSO.com", "mail*.contoso.com",
      "*mail.contoso.com",         "m*l.contoso.com",        "mail.*.com",    "*.com",
      "xn--mller-kva.contoso.com", "*.xn--bcher-kva.example"};
  const Names hosts{"mail.contoso.com",  "MAIL.Contoso.COM",          "a.b.contoso.com",
                    "contoso.com",       "mail.contoso.org",          "mail1.contoso.com",
                    "xmail.contoso.com", "xn--mller-kva.contoso.com", "a.xn--bcher-kva.example"};
  // Not compared: a host with a trailing dot, which OpenSSL 3.0 refuses and we accept.
  for (const auto& pattern : patterns) {
    const auto cert = t::issue({.subject = {{"CN", "ignored"}}, .san = {"DNS:" + pattern}});
    for (const auto& host : hosts) {
      const int openssl = X509_check_host(cert.cert.get(), host.data(), host.size(),
                                          X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr);
      EXPECT_EQ(name_matches(pattern, host), openssl == 1)
          << "pattern=" << pattern << " host=" << host;
    }
  }
}

// ---- which expected name a leaf matches ---------------------------------------------------

TEST(MatchLeaf, ReturnsTheFirstExpectedNameInTheSans) {
  const auto leaf = read_certificate(t::contoso_pki().leaf.der);
  EXPECT_EQ(match_leaf(leaf, {"smtp.contoso.com", "AUTODISCOVER.contoso.com", "mail.contoso.com"}),
            std::optional<std::string>("AUTODISCOVER.contoso.com"));
  EXPECT_EQ(match_leaf(leaf, {"smtp.contoso.com"}), std::nullopt);
  EXPECT_EQ(match_leaf(leaf, {}), std::nullopt);
}

TEST(MatchLeaf, CommonNameIgnoredWhenDnsSansExist) {
  const auto cert =
      t::issue({.subject = t::contoso("legacy.contoso.com"), .san = {"DNS:mail.contoso.com"}});
  const auto leaf = read_certificate(cert.der);
  EXPECT_EQ(match_leaf(leaf, {"legacy.contoso.com"}), std::nullopt);
  EXPECT_EQ(match_leaf(leaf, {"mail.contoso.com"}), "mail.contoso.com");
}

TEST(MatchLeaf, CommonNameUsedWithoutDnsSans) {
  const auto no_san = read_certificate(t::issue({.subject = t::contoso("mail.contoso.com")}).der);
  EXPECT_EQ(match_leaf(no_san, {"mail.contoso.com"}), "mail.contoso.com");
  EXPECT_EQ(match_leaf(no_san, {"smtp.contoso.com"}), std::nullopt);
  // An IP SAN is not a DNS-ID: the CN still counts.
  const auto ip_only = read_certificate(
      t::issue({.subject = t::contoso("mail.contoso.com"), .san = {"IP:192.0.2.25"}}).der);
  EXPECT_EQ(match_leaf(ip_only, {"mail.contoso.com"}), "mail.contoso.com");
}

TEST(MatchLeaf, WildcardCommonNameFollowsTheSameRules) {
  const auto leaf = read_certificate(t::issue({.subject = t::contoso("*.contoso.com")}).der);
  EXPECT_EQ(match_leaf(leaf, {"a.b.contoso.com", "contoso.com"}), std::nullopt);
  EXPECT_EQ(match_leaf(leaf, {"mail.contoso.com"}), "mail.contoso.com");
}

TEST(MatchLeaf, IpLiteralsMatchIpSansOnly) {
  const auto leaf = read_certificate(
      t::issue({.subject = t::contoso("192.0.2.25"),
                .san = {"DNS:mail.contoso.com", "IP:192.0.2.25", "IP:2001:db8::19"}})
          .der);
  EXPECT_EQ(match_leaf(leaf, {"192.0.2.25"}), "192.0.2.25");
  EXPECT_EQ(match_leaf(leaf, {"2001:DB8:0::19"}), "2001:DB8:0::19");
  EXPECT_EQ(match_leaf(leaf, {"192.0.2.26"}), std::nullopt);
  const auto cn_only = read_certificate(t::issue({.subject = t::contoso("192.0.2.25")}).der);
  EXPECT_EQ(match_leaf(cn_only, {"192.0.2.25"}), std::nullopt);
}

// ---- chain verification -------------------------------------------------------------------

TEST(Verifier, GoodChainIsTrustedAndMatched) {
  const auto facts = contoso_verifier().verify(full_chain(), {"mail.contoso.com"}, t::mid_2026);
  EXPECT_TRUE(facts.checked);
  EXPECT_TRUE(facts.trusted);
  EXPECT_EQ(facts.error, "");
  EXPECT_EQ(facts.error_depth, -1);
  EXPECT_EQ(facts.name_matched, true);
  EXPECT_EQ(facts.matched_name, "mail.contoso.com");
  EXPECT_EQ(facts.expected_names, Names{"mail.contoso.com"});
}

TEST(Verifier, EmptyChainIsNotChecked) {
  const auto facts = contoso_verifier().verify({}, {"mail.contoso.com"}, t::mid_2026);
  EXPECT_FALSE(facts.checked);
  EXPECT_FALSE(facts.trusted);
  EXPECT_EQ(facts.name_matched, std::nullopt);
}

TEST(Verifier, NoExpectedNamesLeavesNameMatchUnknown) {
  const auto facts = contoso_verifier().verify(full_chain(), {}, t::mid_2026);
  EXPECT_TRUE(facts.trusted);
  EXPECT_EQ(facts.name_matched, std::nullopt);
  EXPECT_EQ(facts.matched_name, std::nullopt);
}

TEST(Verifier, ExpiredLeaf) {
  const auto facts = contoso_verifier().verify(full_chain(), {"mail.contoso.com"}, t::y2027);
  EXPECT_FALSE(facts.trusted);
  EXPECT_EQ(facts.error, "certificate has expired");
  EXPECT_EQ(facts.error_depth, 0);
  EXPECT_EQ(facts.name_matched, true);  // the name is a separate fact
}

TEST(Verifier, ValidityWindowEdges) {
  // (OpenSSL counts the very second of notAfter as expired; RFC 5280 §4.1.2.5 says inclusive.)
  EXPECT_TRUE(contoso_verifier().verify(full_chain(), {}, t::nov_2026 - 1).trusted);
  EXPECT_FALSE(contoso_verifier().verify(full_chain(), {}, t::nov_2026 + 1).trusted);
  EXPECT_TRUE(contoso_verifier().verify(full_chain(), {}, t::y2026).trusted);
  EXPECT_FALSE(contoso_verifier().verify(full_chain(), {}, t::y2026 - 1).trusted);
}

TEST(Verifier, NotYetValidLeaf) {
  const auto facts = contoso_verifier().verify(full_chain(), {}, t::y2026 - 86400);
  EXPECT_FALSE(facts.trusted);
  EXPECT_EQ(facts.error, "certificate is not yet valid");
  EXPECT_EQ(facts.error_depth, 0);
}

TEST(Verifier, SelfSignedLeafLikeAnAppliance) {
  const auto appliance = t::issue({.subject = {{"CN", "barracuda.local"}},
                                   .san = {"DNS:barracuda.local"},
                                   .key = "RSA-2048#appliance"});
  const auto facts = contoso_verifier().verify({appliance.der}, {"mail.contoso.com"}, t::mid_2026);
  EXPECT_FALSE(facts.trusted);
  EXPECT_EQ(facts.error, "self-signed certificate");
  EXPECT_EQ(facts.error_depth, 0);
  EXPECT_EQ(facts.name_matched, false);
  EXPECT_EQ(facts.matched_name, std::nullopt);
  EXPECT_TRUE(read_certificate(appliance.der).self_signed);
}

TEST(Verifier, WrongNameStillTrusted) {
  const auto facts = contoso_verifier().verify(
      full_chain(), {"smtp.fabrikam.com", "a.b.contoso.com"}, t::mid_2026);
  EXPECT_TRUE(facts.trusted);
  EXPECT_EQ(facts.name_matched, false);
  EXPECT_EQ(facts.matched_name, std::nullopt);
}

TEST(Verifier, MissingIntermediateIsUnableToGetLocalIssuer) {
  const auto facts =
      contoso_verifier().verify({t::contoso_pki().leaf.der}, {"mail.contoso.com"}, t::mid_2026);
  EXPECT_FALSE(facts.trusted);
  EXPECT_EQ(facts.error, "unable to get local issuer certificate");
  EXPECT_EQ(facts.error_depth, 0);
}

TEST(Verifier, ChainToAnotherRootIsUntrusted) {
  const auto other_root = t::issue({.subject = {{"CN", "Fabrikam Root"}},
                                    .not_before = t::y2020,
                                    .not_after = t::y2040,
                                    .ca = true,
                                    .key = "RSA-2048#fabrikam"});
  const Verifier verifier = bundle_verifier({&other_root});
  const auto facts = verifier.verify(full_chain(), {}, t::mid_2026);
  EXPECT_FALSE(facts.trusted);
  EXPECT_EQ(facts.error, "unable to get local issuer certificate");
  EXPECT_EQ(facts.error_depth, 1);
}

TEST(Verifier, PresentedRootIsNotTrustedBecauseItWasSent) {
  const auto& pki = t::contoso_pki();
  const auto other_root = t::issue({.subject = {{"CN", "Fabrikam Root"}},
                                    .not_before = t::y2020,
                                    .not_after = t::y2040,
                                    .ca = true,
                                    .key = "RSA-2048#fabrikam"});
  const Verifier verifier = bundle_verifier({&other_root});
  const auto facts =
      verifier.verify({pki.leaf.der, pki.intermediate.der, pki.root.der}, {}, t::mid_2026);
  EXPECT_FALSE(facts.trusted);
  EXPECT_EQ(facts.error, "self-signed certificate in certificate chain");
  EXPECT_EQ(facts.error_depth, 2);
}

TEST(Verifier, IntermediateAloneInStoreIsNotAnAnchor) {
  // Without X509_V_FLAG_PARTIAL_CHAIN a trust anchor must be self-signed: an intermediate in
  // the bundle is not enough, even with the root presented by the peer.
  const auto& pki = t::contoso_pki();
  const Verifier verifier = bundle_verifier({&pki.intermediate});
  for (const auto& chain :
       {full_chain(), Names{pki.leaf.der, pki.intermediate.der, pki.root.der}}) {
    const auto facts = verifier.verify(chain, {}, t::mid_2026);
    EXPECT_FALSE(facts.trusted);
    EXPECT_EQ(facts.error, "unable to get issuer certificate");
    EXPECT_EQ(facts.error_depth, 1);
  }
}

TEST(Verifier, OddExtendedKeyUsageDoesNotFail) {
  const auto leaf = t::issue({.subject = t::contoso("mail.contoso.com"),
                              .san = {"DNS:mail.contoso.com"},
                              .eku = "emailProtection",
                              .key = "RSA-2048#leaf"},
                             &t::contoso_pki().intermediate);
  const auto facts = contoso_verifier().verify({leaf.der, t::contoso_pki().intermediate.der},
                                               {"mail.contoso.com"}, t::mid_2026);
  EXPECT_TRUE(facts.trusted) << facts.error;
}

TEST(Verifier, GarbageLeafIsAFactNotACrash) {
  const auto facts =
      contoso_verifier().verify({"not a certificate"}, {"mail.contoso.com"}, t::mid_2026);
  EXPECT_TRUE(facts.checked);
  EXPECT_FALSE(facts.trusted);
  EXPECT_NE(facts.error.find("could not be parsed"), std::string::npos) << facts.error;
  EXPECT_EQ(facts.error_depth, 0);
  EXPECT_EQ(facts.name_matched, false);
}

TEST(Verifier, GarbageIntermediateIsSkipped) {
  const auto& pki = t::contoso_pki();
  const auto facts =
      contoso_verifier().verify({pki.leaf.der, "junk", pki.intermediate.der}, {}, t::mid_2026);
  EXPECT_TRUE(facts.trusted) << facts.error;
}

TEST(Verifier, LoadNamesAMissingBundle) {
  std::string error;
  const std::string path = "/nonexistent/hopscope/ca-bundle.pem";
  EXPECT_FALSE(Verifier::load(path, &error).has_value());
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("No such file or directory"), std::string::npos) << error;
  EXPECT_FALSE(Verifier::load(path, nullptr).has_value());
}

TEST(Verifier, LoadSaysWhenTheBundleIsADirectory) {
  const t::TempDir dir;
  const std::string path = dir.write("empty.pem", "");
  const std::string folder = path.substr(0, path.rfind('/'));
  std::string error;
  EXPECT_FALSE(Verifier::load(folder, &error).has_value());
  EXPECT_NE(error.find(folder + ": it is a directory"), std::string::npos) << error;
}

TEST(Verifier, LoadRefusesABundleWithoutCertificates) {
  const t::TempDir dir;
  const std::string path = dir.write("empty.pem", "not PEM at all\n");
  std::string error;
  EXPECT_FALSE(Verifier::load(path, &error).has_value());
  EXPECT_NE(error.find(path), std::string::npos) << error;
}

TEST(Verifier, SystemStoreTrustsItsOwnRoots) {
  std::string error;
  const auto verifier = Verifier::load("system", &error);
  ASSERT_TRUE(verifier.has_value()) << error;
  // A root from the system store, presented alone, verifies to itself.
  std::string der;
  std::error_code ignored;
  for (const auto& entry : std::filesystem::directory_iterator("/etc/ssl/certs", ignored)) {
    if (entry.path().extension() != ".pem") {
      continue;
    }
    BIO* bio = BIO_new_file(entry.path().c_str(), "r");
    X509* cert = bio != nullptr ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr) : nullptr;
    BIO_free(bio);
    if (cert != nullptr) {
      der = t::to_der(cert);
      X509_free(cert);
      break;
    }
  }
  if (der.empty()) {
    GTEST_SKIP() << "no system certificates";
  }
  const auto root = read_certificate(der);
  const std::int64_t inside =
      root.not_before_unix + (root.not_after_unix - root.not_before_unix) / 2;
  const auto facts = verifier->verify({der}, {}, inside);
  EXPECT_TRUE(facts.trusted) << root.subject << ": " << facts.error;
  // Our private test PKI is, of course, unknown to it.
  EXPECT_FALSE(verifier->verify(full_chain(), {}, t::mid_2026).trusted);
}

TEST(Verifier, VerifiesFromSeveralThreadsAtOnce) {
  const Verifier& verifier = contoso_verifier();
  const Names chain = full_chain();
  std::vector<int> trusted(4, 0);
  std::vector<std::thread> threads;
  threads.reserve(trusted.size());
  for (int& count : trusted) {
    threads.emplace_back([&verifier, &chain, &count] {
      for (int round = 0; round < 50; ++round) {
        count += verifier.verify(chain, {"mail.contoso.com"}, t::mid_2026).trusted ? 1 : 0;
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(trusted, std::vector<int>(4, 50));
}

TEST(Verifier, CopiesShareTheStore) {
  const Verifier copy = contoso_verifier();  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_TRUE(copy.verify(full_chain(), {}, t::mid_2026).trusted);
}

}  // namespace
}  // namespace hopscope::tls
