// The harness proven against a real Postfix: swaks → Postfix with TLS required and the
// certificate verified against the test CA; TLS 1.2-only and 1.3-only instances; BDAT and
// pipelining through SmtpClient. The relay tests put `hopscope relay` between the two.
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "postfix_instance.hpp"
#include "smtp_client.hpp"
#include "swaks.hpp"
#include "temp_dir.hpp"
#include "test_pki.hpp"
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace hopscope::test {
namespace {

using namespace std::chrono_literals;

// A message with the shapes a relay could damage: a leading dot, a lone-dot-looking line,
// tabs, trailing spaces, a folded header, a long line. CRLF, and no final line ending
// (swaks adds one; see run_swaks).
std::string test_message(int n) {
  std::string m =
      "From: Alice <a@example.test>\r\n"
      "To: u@contoso.test\r\n"
      "Subject: hopscope integration message " +
      std::to_string(n) +
      "\r\n"
      "Message-ID: <hopscope-" +
      std::to_string(n) +
      "@example.test>\r\n"
      "X-Folded: first part\r\n"
      "\tsecond part\r\n"
      "\r\n"
      "Body of message " +
      std::to_string(n) +
      ".\r\n"
      ".leading dot\r\n"
      "..two dots\r\n"
      " .\r\n"
      "tab\there, trailing spaces   \r\n" +
      std::string(900, static_cast<char>('a' + n % 26)) + "\r\n" + "last line";
  return m;
}

std::vector<std::string> swaks_tls_args(const PostfixInstance& postfix, const TestPki& pki,
                                        const std::filesystem::path& data) {
  return {"--server",  postfix.address(),   "--from",        "a@example.test",
          "--to",      "u@contoso.test",    "--helo",        "client.example.test",
          "--tls",     "--tls-verify",      "--tls-ca-path", pki.ca_file().string(),
          "--tls-sni", "mail.contoso.test", "--data",        "@" + data.string()};
}

PostfixOptions tls_options(const TestPki& pki, PostfixTls tls, std::string_view protocols = "") {
  PostfixOptions options;
  options.tls = tls;
  options.cert_file = pki.server_chain();
  options.key_file = pki.server().key;
  options.tls_protocols = std::string(protocols);
  return options;
}

TEST(PostfixSwaks, TwentyMessagesOverRequiredVerifiedTlsArriveByteIdentical) {
  const TempDir dir("hopscope-it");
  const TestPki pki(dir.path());
  const PostfixInstance postfix(tls_options(pki, PostfixTls::encrypt));

  constexpr int count = 20;
  std::vector<std::string> sent;
  for (int n = 0; n < count; ++n) {
    const auto file = dir.path() / ("message-" + std::to_string(n) + ".eml");
    write_file(file, test_message(n));
    const SwaksResult result = run_swaks(swaks_tls_args(postfix, pki, file));
    ASSERT_EQ(result.exit_code, 0) << result.transcript << result.errors << postfix.maillog_tail();
    EXPECT_NE(result.transcript.find("TLS started with cipher"), std::string::npos);
    sent.push_back(test_message(n) + "\r\n");
  }

  ASSERT_EQ(postfix.wait_for_messages(count, 30s), static_cast<std::size_t>(count))
      << postfix.maillog_tail();
  std::vector<std::string> delivered;
  for (const auto& message : postfix.messages()) {
    EXPECT_NE(message.find("with ESMTPS"), std::string::npos) << "not received over TLS";
    delivered.push_back(strip_delivery_headers(message));
  }
  std::sort(sent.begin(), sent.end());
  std::sort(delivered.begin(), delivered.end());
  EXPECT_EQ(delivered, sent);
}

TEST(PostfixSwaks, PlaintextIsRefusedWhenTlsIsRequired) {
  const TempDir dir("hopscope-it");
  const TestPki pki(dir.path());
  const PostfixInstance postfix(tls_options(pki, PostfixTls::encrypt));
  const SwaksResult result = run_swaks(
      {"--server", postfix.address(), "--from", "a@example.test", "--to", "u@contoso.test"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.transcript.find("530"), std::string::npos) << result.transcript;
  EXPECT_EQ(postfix.wait_for_messages(1, 200ms), 0U);
}

TEST(PostfixSwaks, VerificationFailsAgainstAnotherTrustAnchor) {
  const TempDir dir("hopscope-it");
  const TestPki pki(dir.path());
  const PostfixInstance postfix(tls_options(pki, PostfixTls::encrypt));
  const SwaksResult result = run_swaks({"--server", postfix.address(), "--from", "a@example.test",
                                        "--to", "u@contoso.test", "--tls", "--tls-verify",
                                        "--tls-ca-path", pki.self_signed().cert.string()});
  EXPECT_NE(result.exit_code, 0) << result.transcript;
  EXPECT_EQ(postfix.wait_for_messages(1, 200ms), 0U);
}

void expect_only_version(std::string_view protocols, const std::string& version,
                         const std::string& refused_swaks_protocol) {
  const TempDir dir("hopscope-it");
  const TestPki pki(dir.path());
  const PostfixInstance postfix(tls_options(pki, PostfixTls::encrypt, protocols));
  const auto file = dir.path() / "message.eml";
  write_file(file, test_message(1));

  const SwaksResult ok = run_swaks(swaks_tls_args(postfix, pki, file));
  ASSERT_EQ(ok.exit_code, 0) << ok.transcript << ok.errors << postfix.maillog_tail();
  EXPECT_NE(ok.transcript.find("TLS started with cipher " + version), std::string::npos)
      << ok.transcript;

  auto args = swaks_tls_args(postfix, pki, file);
  args.insert(args.end(), {"--tls-protocol", refused_swaks_protocol});
  const SwaksResult refused = run_swaks(args);
  EXPECT_NE(refused.exit_code, 0) << refused.transcript;

  ASSERT_EQ(postfix.wait_for_messages(1, 10s), 1U) << postfix.maillog_tail();
  EXPECT_EQ(strip_delivery_headers(postfix.messages().at(0)), test_message(1) + "\r\n");
  EXPECT_EQ(postfix.wait_for_messages(2, 200ms), 1U);
}

TEST(PostfixSwaks, Tls13OnlyInstanceNegotiatesTls13AndRefusesTls12) {
  expect_only_version(tls_only_1_3, "TLSv1.3", "tlsv1_2");
}

TEST(PostfixSwaks, Tls12OnlyInstanceNegotiatesTls12AndRefusesTls13) {
  expect_only_version(tls_only_1_2, "TLSv1.2", "tlsv1_3");
}

TEST(PostfixSmtpClient, BdatChunkWithALoneDotLineIsDeliveredVerbatim) {
  const TempDir dir("hopscope-it");
  const TestPki pki(dir.path());
  const PostfixInstance postfix(tls_options(pki, PostfixTls::may));
  SmtpClient client(postfix.host(), postfix.port());
  const SmtpReply ehlo = client.greet_and_ehlo();
  ASSERT_TRUE(ehlo.has_keyword("CHUNKING")) << ehlo.raw;

  // RFC 3030 §2: BDAT data is not dot-stuffed, so a line holding only "." is message content.
  const std::vector<std::string> chunks{
      "From: a@example.test\r\nTo: u@contoso.test\r\nSubject: bdat\r\n\r\nfirst chunk\r\n",
      ".\r\nsecond chunk after a lone dot\r\n.\r\n", "..\r\nlast chunk\r\n"};
  const auto replies = client.send_mail_bdat({"a@example.test", {"u@contoso.test"}}, chunks);
  ASSERT_EQ(replies.size(), 5U);
  for (const auto& reply : replies) {
    EXPECT_EQ(reply.code, 250) << reply.raw;
  }
  client.quit();

  ASSERT_EQ(postfix.wait_for_messages(1, 10s), 1U) << postfix.maillog_tail();
  EXPECT_EQ(strip_delivery_headers(postfix.messages().at(0)), chunks[0] + chunks[1] + chunks[2]);
}

TEST(PostfixSmtpClient, PipelinedMailRcptDataIsDeliveredToEachRecipient) {
  const TempDir dir("hopscope-it");
  const TestPki pki(dir.path());
  const PostfixInstance postfix(tls_options(pki, PostfixTls::may));
  SmtpClient client(postfix.host(), postfix.port());
  const SmtpReply ehlo = client.greet_and_ehlo();
  ASSERT_TRUE(ehlo.has_keyword("PIPELINING")) << ehlo.raw;
  ASSERT_TRUE(ehlo.has_keyword("STARTTLS")) << ehlo.raw;

  const std::string message =
      "From: a@example.test\r\nSubject: pipelined\r\n\r\n.leading dot\r\nend\r\n";
  const auto replies = client.send_mail_pipelined(
      {"a@example.test", {"u1@contoso.test", "u2@contoso.test"}}, message);
  ASSERT_EQ(replies.size(), 5U);
  EXPECT_EQ(replies[0].code, 250) << replies[0].raw;
  EXPECT_EQ(replies[1].code, 250) << replies[1].raw;
  EXPECT_EQ(replies[2].code, 250) << replies[2].raw;
  EXPECT_EQ(replies[3].code, 354) << replies[3].raw;
  EXPECT_EQ(replies[4].code, 250) << replies[4].raw;
  client.quit();

  ASSERT_EQ(postfix.wait_for_messages(2, 10s), 2U) << postfix.maillog_tail();
  std::vector<std::string> delivered_to;
  for (const auto& m : postfix.messages()) {
    EXPECT_EQ(strip_delivery_headers(m), message);
    delivered_to.push_back(
        m.substr(m.find("Delivered-To: "),
                 m.find('\n', m.find("Delivered-To: ")) - m.find("Delivered-To: ")));
  }
  std::sort(delivered_to.begin(), delivered_to.end());
  EXPECT_EQ(delivered_to, (std::vector<std::string>{"Delivered-To: u1@contoso.test",
                                                    "Delivered-To: u2@contoso.test"}));
}

TEST(PostfixInstance, DiscardedStarttlsIsNotAdvertised) {
  const TempDir dir("hopscope-it");
  const TestPki pki(dir.path());
  PostfixOptions options = tls_options(pki, PostfixTls::may);
  options.discard_ehlo_keywords = {"starttls"};
  const PostfixInstance postfix(options);
  SmtpClient client(postfix.host(), postfix.port());
  const SmtpReply ehlo = client.greet_and_ehlo();
  EXPECT_EQ(ehlo.code, 250);
  EXPECT_FALSE(ehlo.has_keyword("STARTTLS")) << ehlo.raw;
  EXPECT_TRUE(ehlo.has_keyword("PIPELINING")) << ehlo.raw;
  client.quit();
}

TEST(PostfixInstance, StartFailureNamesTheMaillogAndQuotesIt) {
  // Occupy the port so that the master cannot bind it.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  // NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast)
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  // NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)
  ASSERT_EQ(::listen(fd, 1), 0);

  PostfixOptions options;
  options.tls = PostfixTls::none;
  options.port = ntohs(address.sin_port);
  options.start_timeout = 5s;
  std::string error;
  try {
    const PostfixInstance postfix(options);
  } catch (const PostfixError& e) {
    error = e.what();
  }
  ::close(fd);
  EXPECT_NE(error.find("maillog"), std::string::npos) << error;
  EXPECT_NE(error.find("Address already in use"), std::string::npos) << error;
  if (const auto at = error.find(" in /"); at != std::string::npos) {
    std::error_code ignored;
    std::filesystem::remove_all(error.substr(at + 4, error.find(':', at) - at - 4), ignored);
  }
}

}  // namespace
}  // namespace hopscope::test
