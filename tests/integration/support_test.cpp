// Tests of the integration-test support library itself (no Postfix): Process, loopback
// helpers, the throw-away PKI and the delivered-message helpers.
#include <chrono>
#include <regex>
#include <string>

#include <gtest/gtest.h>

#include "net.hpp"
#include "postfix_instance.hpp"
#include "process.hpp"
#include "temp_dir.hpp"
#include "test_pki.hpp"
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace hopscope::test {
namespace {

using namespace std::chrono_literals;

TEST(Process, WaitForLineReturnsTheCaptureGroups) {
  Process child(
      {"sh", "-c", "echo starting; echo 'listening on 127.0.0.1:4321' >&2; exec sleep 30"});
  const auto match = child.wait_for_line(Stream::err, std::regex(R"(listening on (\S+))"), 10s);
  ASSERT_TRUE(match) << child.describe();
  EXPECT_EQ(match->groups.at(1), "127.0.0.1:4321");
  EXPECT_EQ(match->index, 0U);
  EXPECT_TRUE(child.wait_for_line(Stream::out, std::regex("^starting$"), 10s));
  EXPECT_EQ(child.terminate(), 128 + SIGTERM);
}

TEST(Process, ReportsTheExitCode) {
  Process child({"sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(child.wait(10s), 3);
  ASSERT_TRUE(child.wait_for_eof(10s));
  EXPECT_EQ(child.output(Stream::out), "out\n");
  EXPECT_EQ(child.lines(Stream::err), std::vector<std::string>{"err"});
}

TEST(Process, WaitForLineGivesUpAtEndOfFileWithoutWaitingForTheDeadline) {
  Process child({"sh", "-c", "echo nothing-useful"});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(child.wait_for_line(Stream::out, std::regex("never"), 20s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST(Process, WaitForLineTimesOutOnASilentProcess) {
  Process child({"sleep", "30"});
  EXPECT_FALSE(child.wait_for_line(Stream::err, std::regex("x"), 100ms));
  EXPECT_TRUE(child.running());
}

TEST(Process, TerminateEscalatesToSigkillWhenSigtermIsIgnored) {
  Process child({"sh", "-c", "trap '' TERM; echo ready; exec sleep 30"});
  ASSERT_TRUE(child.wait_for_line(Stream::out, std::regex("ready"), 10s));
  EXPECT_EQ(child.terminate(200ms), 128 + SIGKILL);
}

TEST(Process, MissingProgramThrows) {
  EXPECT_THROW(Process({"/nonexistent/hopscope-no-such-program"}), std::runtime_error);
}

TEST(Process, ExtraEnvironmentReachesTheChild) {
  Process child({"sh", "-c", "echo \"$HOPSCOPE_TEST_VALUE\""}, {{"HOPSCOPE_TEST_VALUE=42"}, {}});
  EXPECT_TRUE(child.wait_for_line(Stream::out, std::regex("^42$"), 10s));
}

TEST(Loopback, WaitForPortSeesAListenerAndTimesOutWithoutOne) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  // NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast)
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  // NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)
  const auto port = ntohs(address.sin_port);
  EXPECT_TRUE(wait_for_port("127.0.0.1", port, 1s));
  ::close(fd);
  EXPECT_FALSE(wait_for_port("127.0.0.1", port, 50ms));
  EXPECT_NE(free_loopback_port(), 0);
}

TEST(Loopback, ParsesHostAndPort) {
  EXPECT_EQ(parse_host_port("127.0.0.1:2525").port, 2525);
  EXPECT_EQ(parse_host_port("[::1]:25").host, "::1");
  EXPECT_THROW((void)parse_host_port("127.0.0.1"), std::invalid_argument);
  EXPECT_THROW((void)parse_host_port("127.0.0.1:0"), std::invalid_argument);
}

std::string openssl_fingerprint(const std::filesystem::path& cert) {
  Process openssl({"openssl", "x509", "-in", cert.string(), "-noout", "-fingerprint", "-sha256"});
  const auto match =
      openssl.wait_for_line(Stream::out, std::regex("Fingerprint=([0-9A-F:]+)"), 10s);
  std::string hex = match ? match->groups.at(1) : "";
  std::erase(hex, ':');
  return hex;
}

int openssl_verify(const TestPki& pki, const std::filesystem::path& cert) {
  Process openssl({"openssl", "verify", "-CAfile", pki.ca_file().string(), cert.string()});
  return openssl.wait(10s).value_or(-1);
}

TEST(TestPki, FingerprintsMatchTheOpensslCli) {
  const TempDir dir("hopscope-pki");
  const TestPki pki(dir.path());
  for (const auto* file : {&pki.ca(), &pki.server(), &pki.self_signed(), &pki.expired()}) {
    EXPECT_EQ(file->sha256.size(), 64U);
    EXPECT_EQ(file->sha256, openssl_fingerprint(file->cert)) << file->cert;
  }
  EXPECT_NE(pki.server().sha256, pki.expired().sha256);
}

TEST(TestPki, ServerVerifiesAgainstTheCaAndTheOthersDoNot) {
  const TempDir dir("hopscope-pki");
  const TestPki pki(dir.path());
  EXPECT_EQ(openssl_verify(pki, pki.server().cert), 0);
  EXPECT_NE(openssl_verify(pki, pki.expired().cert), 0);
  EXPECT_NE(openssl_verify(pki, pki.self_signed().cert), 0);

  Process text({"openssl", "x509", "-in", pki.server().cert.string(), "-noout", "-text"});
  EXPECT_TRUE(text.wait_for_line(
      Stream::out, std::regex("DNS:mail\\.contoso\\.test, IP Address:127\\.0\\.0\\.1"), 10s))
      << text.describe();
  Process subject(
      {"openssl", "x509", "-in", pki.self_signed().cert.string(), "-noout", "-subject", "-issuer"});
  EXPECT_TRUE(
      subject.wait_for_line(Stream::out, std::regex("^subject=CN = barracuda\\.local$"), 10s));
  EXPECT_TRUE(
      subject.wait_for_line(Stream::out, std::regex("^issuer=CN = barracuda\\.local$"), 10s));
}

TEST(DeliveryHeaders, StripsWhatPostfixPrependsAndRestoresCrlf) {
  const std::string delivered =
      "Return-Path: <a@example.test>\n"
      "Delivered-To: u@contoso.test\n"
      "Received: from client (localhost [127.0.0.1])\n"
      "\tby mail.contoso.test (Postfix) with ESMTPS id 4F\n"
      "\tfor <u@contoso.test>; Mon,  1 Jan 2024 00:00:00 +0000 (UTC)\n"
      "Received: from earlier.hop by client\n"
      "Subject: hi\n"
      "\n"
      "body\n"
      ".\n";
  EXPECT_EQ(strip_delivery_headers(delivered),
            "Received: from earlier.hop by client\r\nSubject: hi\r\n\r\nbody\r\n.\r\n");
  EXPECT_EQ(message_body("Subject: hi\r\n\r\nbody\r\n"), "body\r\n");
  EXPECT_EQ(message_body("Subject: hi\n\nbody\n"), "body\n");
  EXPECT_EQ(message_body("Subject: no body"), "");
}

}  // namespace
}  // namespace hopscope::test
