// A valid chain longer than the passive observer keeps (max_chain_certificates): hopscope cut
// it, so it must not claim the chain is untrusted. End to end through the two tls/ pieces the
// audit pipeline chains: HandshakeObserver (keeps the first 16) → Verifier.

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_certificates.hpp"
#include "tls/handshake_observer.hpp"
#include "tls/verify.hpp"

namespace hopscope::tls {
namespace {

namespace t = testing;
using Chain = std::vector<std::string>;

Verifier contoso_root_verifier() {
  const t::TempDir dir;
  std::string error;
  auto verifier = Verifier::load(dir.write("bundle.pem", t::pem(t::contoso_pki().root)), &error);
  if (!verifier) {
    throw std::runtime_error(error);
  }
  return *verifier;
}

// Contoso Root CA → `intermediates` CAs, each issued by the one before → leaf
// "mail.contoso.com"; presented leaf first, as a server sends it, the root last.
Chain long_chain(std::size_t intermediates) {
  std::vector<t::Issued> cas;
  const t::Issued* issuer = &t::contoso_pki().root;
  cas.reserve(intermediates);
  for (std::size_t i = 1; i <= intermediates; ++i) {
    cas.push_back(t::issue({.subject = t::contoso("Contoso CA " + std::to_string(i)),
                            .not_before = t::y2021,
                            .not_after = t::y2036,
                            .ca = true,
                            .serial_hex = std::to_string(100 + i),
                            .key = "EC-P256#long-chain-" + std::to_string(i)},
                           issuer));
    issuer = &cas.back();
  }
  const auto leaf = t::issue({.subject = t::contoso("mail.contoso.com"),
                              .san = {"DNS:mail.contoso.com"},
                              .serial_hex = "77",
                              .key = "EC-P256#long-chain-leaf"},
                             issuer);
  Chain chain{leaf.der};
  std::transform(cas.rbegin(), cas.rend(), std::back_inserter(chain),
                 [](const t::Issued& ca) { return ca.der; });
  chain.push_back(t::contoso_pki().root.der);
  return chain;
}

std::string u24(std::size_t v) {
  return {static_cast<char>((v >> 16U) & 0xFFU), static_cast<char>((v >> 8U) & 0xFFU),
          static_cast<char>(v & 0xFFU)};
}

// A TLS 1.2 Certificate message (RFC 5246 §7.4.2) in as many handshake records as it needs.
std::string certificate_records(const Chain& chain) {
  std::string list;
  for (const auto& der : chain) {
    list += u24(der.size()) + der;
  }
  const std::string message =
      std::string(1, '\x0B') + u24(list.size() + 3) + u24(list.size()) + list;
  std::string out;
  constexpr std::size_t max_fragment = 16384;
  for (std::size_t at = 0; at < message.size(); at += max_fragment) {
    const std::string fragment = message.substr(at, max_fragment);
    out += std::string{'\x16', '\x03', '\x03', static_cast<char>(fragment.size() >> 8U),
                       static_cast<char>(fragment.size() & 0xFFU)} +
           fragment;
  }
  return out;
}

TEST(LongChain, EighteenCertificatesVerifyWhenWhole) {
  const Chain chain = long_chain(16);
  ASSERT_EQ(chain.size(), 18U);
  const auto facts = contoso_root_verifier().verify(chain, {"mail.contoso.com"}, t::mid_2026);
  EXPECT_TRUE(facts.checked);
  EXPECT_TRUE(facts.trusted) << facts.error << " at depth " << facts.error_depth;
}

TEST(LongChain, ChainCutByTheObserverIsNotCalledUntrusted) {
  const Chain chain = long_chain(16);
  HandshakeObserver observer;
  observer.feed_server(certificate_records(chain));
  const auto& observation = observer.observation();
  ASSERT_EQ(observation.server_chain_der.size(), max_chain_certificates);
  EXPECT_EQ(observation.facts.parse_error,
            "s>c: certificate_list holds 18 certificates; the first 16 are kept");

  ASSERT_TRUE(observation.server_chain_cut);
  const auto facts =
      contoso_root_verifier().verify(observation.server_chain_der, {"mail.contoso.com"},
                                     t::mid_2026, observation.server_chain_cut);
  EXPECT_FALSE(facts.checked) << facts.error;
  EXPECT_FALSE(facts.trusted);
  EXPECT_EQ(facts.error,
            "not verified: hopscope keeps at most 16 certificates of a chain and the issuer of "
            "chain certificate 15 was not among them: it may have been one of those cut off "
            "(OpenSSL: unable to get local issuer certificate)");
  EXPECT_EQ(facts.error_depth, -1);
  // The leaf was kept: its name is still matched.
  EXPECT_EQ(facts.name_matched, true);
  EXPECT_EQ(facts.matched_name, "mail.contoso.com");
  EXPECT_EQ(facts.expected_names, Chain{"mail.contoso.com"});
}

// Only a chain the observer cut is "not verified". One presented whole is untrusted when it
// lacks an issuer, however long: an appliance cannot pad its chain to the cap to escape
// CERT_UNTRUSTED. The cap at -1, at and +1, cut and not.
TEST(LongChain, MissingIssuerIsNotVerifiedOnlyWhenTheObserverCutTheChain) {
  const Chain chain = long_chain(17);  // 19 certificates: each prefix below lacks an issuer
  for (const std::size_t kept :
       {max_chain_certificates - 1, max_chain_certificates, max_chain_certificates + 1}) {
    const Chain presented(chain.begin(), chain.begin() + static_cast<std::ptrdiff_t>(kept));
    const auto whole = contoso_root_verifier().verify(presented, {}, t::mid_2026, false);
    EXPECT_TRUE(whole.checked) << kept;
    EXPECT_FALSE(whole.trusted) << kept;
    EXPECT_EQ(whole.error, "unable to get local issuer certificate") << kept;
    EXPECT_EQ(whole.error_depth, static_cast<int>(kept) - 1) << kept;
    const auto cut = contoso_root_verifier().verify(presented, {}, t::mid_2026, true);
    EXPECT_FALSE(cut.checked) << kept;
    EXPECT_EQ(cut.error.rfind("not verified: hopscope keeps at most 16 certificates", 0), 0U)
        << cut.error;
    EXPECT_EQ(cut.error_depth, -1) << kept;
  }
}

TEST(LongChain, ChainOfExactlyTheCapThatVerifiesIsTrusted) {
  const Chain chain = long_chain(14);  // leaf + 14 + root = 16
  ASSERT_EQ(chain.size(), max_chain_certificates);
  const auto facts = contoso_root_verifier().verify(chain, {}, t::mid_2026);
  EXPECT_TRUE(facts.checked);
  EXPECT_TRUE(facts.trusted) << facts.error;
}

TEST(LongChain, OtherFailuresAtTheCapAreStillReported) {
  // Cutting can remove an issuer, never add a certificate: a chain that reaches a root the
  // store does not hold is untrusted however long it is.
  const t::Issued other_root = t::issue({.subject = {{"CN", "Fabrikam Root"}},
                                         .not_before = t::y2020,
                                         .not_after = t::y2040,
                                         .ca = true,
                                         .key = "RSA-2048#fabrikam"});
  std::string error;
  const t::TempDir dir;
  const auto verifier = Verifier::load(dir.write("other.pem", t::pem(other_root)), &error);
  ASSERT_TRUE(verifier) << error;
  const Chain chain = long_chain(14);
  const auto facts = verifier->verify(chain, {}, t::mid_2026, true);
  EXPECT_TRUE(facts.checked);
  EXPECT_FALSE(facts.trusted);
  EXPECT_EQ(facts.error, "self-signed certificate in certificate chain");
  EXPECT_EQ(facts.error_depth, 15);
}

}  // namespace
}  // namespace hopscope::tls
