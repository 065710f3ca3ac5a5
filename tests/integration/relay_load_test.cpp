// The relay under many concurrent sessions, with its audit directory taken away mid-run, and
// on IPv6 loopback; upstream is Postfix's smtp-sink, which answers any number of sessions.

#include <filesystem>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "net.hpp"
#include "process.hpp"
#include "relay_fixture.hpp"
#include "smtp_client.hpp"

namespace hopscope::test {
namespace {

using namespace std::chrono_literals;

// smtp-sink on 127.0.0.1: accepts every message with 250 and keeps nothing; up to 1024
// sessions at once (-m; its default is 256).
class SmtpSink {
 public:
  SmtpSink() : port_(free_loopback_port()) {
    process_ = std::make_unique<Process>(
        std::vector<std::string>{"/usr/sbin/smtp-sink", "-u", "nobody", "-m", "1024", "-c",
                                 "127.0.0.1:" + std::to_string(port_), "1024"});
    if (!wait_for_port("127.0.0.1", port_, 10s)) {
      throw std::runtime_error("smtp-sink did not start: " + process_->describe());
    }
  }
  [[nodiscard]] std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  std::uint16_t port_;
  std::unique_ptr<Process> process_;
};

std::string message(int n) {
  return "Subject: load " + std::to_string(n) + "\r\n\r\nbody of message " + std::to_string(n) +
         "\r\n";
}

TEST(RelayLoad, FiveHundredConcurrentSessionsAreAllRelayedAndRecorded) {
  SmtpSink sink;
  RelayProcess relay(
      {.upstream = sink.address(),
       .extra_toml = "[relay]\nmax_sessions = 1000\nmax_sessions_per_client = 1000\n"});
  constexpr int sessions = 500;
  std::vector<std::unique_ptr<SmtpClient>> clients;
  clients.reserve(sessions);
  for (int i = 0; i < sessions; ++i) {
    clients.push_back(std::make_unique<SmtpClient>(relay.host(), relay.port(), 30s));
    ASSERT_TRUE(clients.back()->greet_and_ehlo().positive()) << "session " << i;
  }
  // All 500 are open through the relay at once; now each sends one message.
  for (int i = 0; i < sessions; ++i) {
    const auto replies = clients[static_cast<std::size_t>(i)]->send_mail_pipelined(
        {"a@example.test", {"u@contoso.test"}}, message(i));
    ASSERT_FALSE(replies.empty());
    EXPECT_EQ(replies.back().code, 250) << "session " << i << ": " << replies.back().raw;
  }
  for (auto& c : clients) {
    c->quit();
  }
  clients.clear();
  ASSERT_TRUE(relay.wait_for_sessions(sessions, 60s)) << relay.stderr_text();
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), static_cast<std::size_t>(sessions));
  std::size_t quit = 0;
  for (const auto& doc : docs) {
    const auto& messages = doc.at("messages").as_array();
    ASSERT_EQ(messages.size(), 1U);
    EXPECT_EQ(json_string(messages[0].as_object(), "reply").rfind("250", 0), 0U);
    quit += json_string(doc, "end.reason") == "quit" ? 1U : 0U;
  }
  EXPECT_EQ(quit, static_cast<std::size_t>(sessions));
}

TEST(RelayAudit, AuditDirectoryTakenAwayMidRunNeverStopsMail) {
  SmtpSink sink;
  TempDir dir("hopscope-audit-gone");
  const auto audit = dir.path() / "audit";
  RelayProcess relay({.upstream = sink.address(), .audit_directory = audit.string()});
  auto send_one = [&relay](int n) {
    SmtpClient client(relay.host(), relay.port());
    EXPECT_TRUE(client.greet_and_ehlo().positive());
    const auto replies =
        client.send_mail_pipelined({"a@example.test", {"u@contoso.test"}}, message(n));
    EXPECT_EQ(replies.back().code, 250) << "message " << n;
    client.quit();
  };

  send_one(1);
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();

  // The directory disappears and a regular file takes its name: nothing can be written.
  std::filesystem::rename(audit, dir.path() / "audit.saved");
  write_file(audit, "not a directory");
  send_one(2);  // mail still flows
  ASSERT_TRUE(relay.wait_for_sessions(2)) << relay.stderr_text();
  EXPECT_TRUE(relay.process().wait_for_line(Stream::err, std::regex("lost"), 10s))
      << relay.stderr_text();

  // The directory comes back: documents are written again.
  std::filesystem::remove(audit);
  std::filesystem::rename(dir.path() / "audit.saved", audit);
  send_one(3);
  ASSERT_TRUE(relay.wait_for_sessions(3)) << relay.stderr_text();
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 2U);  // the first and the third; the second was lost, and said so
  EXPECT_NE(json_string(docs[0], "id"), json_string(docs[1], "id"));
  // IPv4 endpoints are written by hand (proxy/session.cpp endpoint_string).
  EXPECT_EQ(json_string(docs[0], "downstream.local"),
            relay.host() + ":" + std::to_string(relay.port()));
  EXPECT_TRUE(std::regex_match(json_string(docs[0], "downstream.peer"),
                               std::regex(R"(127\.0\.0\.1:[1-9][0-9]{0,4})")))
      << json_string(docs[0], "downstream.peer");
}

TEST(RelayListen, Ipv6LoopbackListenerServesSessions) {
  SmtpSink sink;
  RelayProcess relay({.upstream = sink.address(), .extra_args = {"--listen", "[::1]:0"}});
  const auto line =
      relay.process().wait_for_line(Stream::err, std::regex(R"(listening on \[::1\]:(\d+))"), 10s);
  ASSERT_TRUE(line.has_value()) << relay.stderr_text();
  const auto port = static_cast<std::uint16_t>(std::stoi(line->groups.at(1)));
  {
    SmtpClient client("::1", port);
    EXPECT_TRUE(client.greet_and_ehlo().positive());
    const auto replies =
        client.send_mail_pipelined({"a@example.test", {"u@contoso.test"}}, message(6));
    EXPECT_EQ(replies.back().code, 250);
    client.quit();
  }
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 1U);
  EXPECT_EQ(json_string(docs[0], "downstream.peer").rfind("[::1]:", 0), 0U)
      << json_string(docs[0], "downstream.peer");
}

}  // namespace
}  // namespace hopscope::test
