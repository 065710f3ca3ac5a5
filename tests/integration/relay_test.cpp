// The built `hopscope relay` between real senders (swaks, a raw SMTP client) and a real
// Postfix on loopback (issue 4's integration tests): bytes arrive unchanged, the audit
// documents record what was on the wire, failures never turn into a false success.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "postfix_instance.hpp"
#include "relay_fixture.hpp"
#include "scripted_upstream.hpp"
#include "smtp_client.hpp"
#include "test_pki.hpp"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace hopscope::test {
namespace {

using namespace std::chrono_literals;

std::string sha256_hex(std::string_view bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md.data(), &len, EVP_sha256(), nullptr);
  static constexpr std::string_view hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[md[i] >> 4U];
    out += hex[md[i] & 0x0FU];
  }
  return out;
}

std::string message_text(int n) {
  std::string m = "From: a@example.test\r\nTo: u@contoso.test\r\nSubject: relay test " +
                  std::to_string(n) + "\r\n\r\n";
  for (int i = 0; i < 50; ++i) {
    m += "line " + std::to_string(i) + " of message " + std::to_string(n) +
         " \xC3\xA9 with some text to make it longer\r\n";
  }
  m += ".a line that starts with a dot\r\n..two dots";  // swaks stuffs these; Postfix unstuffs
  return m;
}

struct TlsWorld {
  TempDir dir{"hopscope-pki"};
  TestPki pki{dir.path()};
};

TEST(RelayPassthrough, TwentyVerifiedTlsMessagesArriveByteIdentical) {
  TlsWorld world;
  PostfixOptions po;
  po.tls = PostfixTls::encrypt;
  po.cert_file = world.pki.server().cert;
  po.key_file = world.pki.server().key;
  po.tls_protocols = std::string(tls_only_1_2);
  PostfixInstance postfix(po);
  RelayProcess relay({.upstream = postfix.address()});

  constexpr int count = 20;
  std::vector<std::string> sent;
  for (int i = 0; i < count; ++i) {
    const auto file = world.dir.path() / ("m" + std::to_string(i) + ".eml");
    sent.push_back(message_text(i));
    write_file(file, sent.back());
    const auto r = run_swaks({"--server", relay.address(), "--to", "u@contoso.test", "--from",
                              "a@example.test", "--tls", "--tls-verify", "--tls-ca-path",
                              world.pki.ca_file().string(), "--tls-sni", "mail.contoso.test",
                              "--data", "@" + file.string()});
    ASSERT_EQ(r.exit_code, 0) << r.transcript << r.errors;
  }
  ASSERT_EQ(postfix.wait_for_messages(count, 30s), static_cast<std::size_t>(count));
  ASSERT_TRUE(relay.wait_for_sessions(count)) << relay.stderr_text();

  // Every delivered message is byte-identical to what was sent (after Postfix's trace lines).
  std::vector<std::string> delivered;
  for (const auto& m : postfix.messages()) {
    delivered.push_back(strip_delivery_headers(m));
  }
  for (const auto& s : sent) {
    EXPECT_NE(std::find(delivered.begin(), delivered.end(), s + "\r\n"), delivered.end())
        << "not delivered unchanged: " << s.substr(0, 80);
  }

  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), static_cast<std::size_t>(count));
  for (const auto& doc : docs) {
    EXPECT_EQ(json_string(doc, "schema"), "hopscope.session/1");
    EXPECT_EQ(json_string(doc, "upstream.tls.version"), "TLSv1.2");
    EXPECT_EQ(json_string(doc, "upstream.tls.sni"), "mail.contoso.test");
    EXPECT_EQ(json_string(doc, "upstream.starttls.handshake"), "ok");
    const auto* chain = json_at(doc, "upstream.tls.server_certificates");
    ASSERT_NE(chain, nullptr);
    ASSERT_FALSE(chain->as_array().empty());
    const auto leaf = chain->as_array().at(0).as_object();
    EXPECT_EQ(std::string(leaf.at("sha256").as_string()), world.pki.server().sha256);
    // QUIT travels encrypted after STARTTLS: the relay can only say who closed first.
    const auto reason = json_string(doc, "end.reason");
    EXPECT_TRUE(reason == "client_closed" || reason == "upstream_closed") << reason;
  }
}

TEST(RelayPassthrough, TlsOneThreeRecordsSniAndOfferedVersions) {
  TlsWorld world;
  PostfixOptions po;
  po.tls = PostfixTls::encrypt;
  po.cert_file = world.pki.server().cert;
  po.key_file = world.pki.server().key;
  po.tls_protocols = std::string(tls_only_1_3);
  PostfixInstance postfix(po);
  RelayProcess relay({.upstream = postfix.address()});

  const auto file = world.dir.path() / "m.eml";
  write_file(file, message_text(1));
  const auto r =
      run_swaks({"--server", relay.address(), "--to", "u@contoso.test", "--from", "a@example.test",
                 "--tls", "--tls-sni", "mail.contoso.test", "--data", "@" + file.string()});
  ASSERT_EQ(r.exit_code, 0) << r.transcript << r.errors;
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 1U);
  EXPECT_EQ(json_string(docs[0], "upstream.tls.version"), "TLSv1.3");
  EXPECT_EQ(json_string(docs[0], "upstream.tls.sni"), "mail.contoso.test");
  const auto* offered = json_at(docs[0], "upstream.tls.offered_versions");
  ASSERT_NE(offered, nullptr);
  bool has13 = false;
  for (const auto& v : offered->as_array()) {
    has13 = has13 || v.as_string() == "TLSv1.3";
  }
  EXPECT_TRUE(has13);
  EXPECT_TRUE(json_at(docs[0], "downstream.tls.end_to_end")->as_bool());
}

TEST(RelayPassthrough, PipelinedSessionIsRelayedAndRecorded) {
  PostfixOptions po;
  po.tls = PostfixTls::none;
  PostfixInstance postfix(po);
  RelayProcess relay({.upstream = postfix.address()});

  const std::string message = message_text(7) + "\r\n";
  {
    SmtpClient client(relay.host(), relay.port());
    const auto ehlo = client.greet_and_ehlo();
    ASSERT_TRUE(ehlo.has_keyword("PIPELINING"));
    const auto replies = client.send_mail_pipelined(
        {"a@example.test", {"u@contoso.test", "v@contoso.test"}}, message);
    ASSERT_EQ(replies.size(), 5U);
    EXPECT_EQ(replies[3].code, 354);
    EXPECT_EQ(replies[4].code, 250);
    client.quit();
  }
  ASSERT_EQ(postfix.wait_for_messages(2, 20s), 2U);  // one delivery per recipient
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 1U);
  const auto& messages = docs[0].at("messages").as_array();
  ASSERT_EQ(messages.size(), 1U);
  const auto& m = messages[0].as_object();
  EXPECT_EQ(m.at("size").as_int64(), static_cast<std::int64_t>(message.size()));
  EXPECT_EQ(std::string(m.at("sha256").as_string()), sha256_hex(message));
  EXPECT_EQ(std::string(m.at("mail_from").as_string()), "a@example.test");
  EXPECT_EQ(m.at("rcpt_to").as_array().size(), 2U);
  EXPECT_EQ(json_string(docs[0], "end.reason"), "quit");
  EXPECT_FALSE(json_at(docs[0], "upstream.starttls.offered")->as_bool());
  // The listener is bound to one address: that is the session's local end.
  EXPECT_EQ(json_string(docs[0], "downstream.local"),
            relay.host() + ":" + std::to_string(relay.port()));
  EXPECT_EQ(json_string(docs[0], "upstream.address"), postfix.address());
}

// Real Postfix refuses one pipelined recipient (an empty path: 501 5.1.3): the document's
// rcpt_refused names it with the reply the sender got, and only it.
TEST(RelayPassthrough, RecipientPostfixRefusesIsListedWithItsReply) {
  PostfixOptions po;
  po.tls = PostfixTls::none;
  PostfixInstance postfix(po);
  RelayProcess relay({.upstream = postfix.address()});

  const std::string message = message_text(8) + "\r\n";
  std::string refusal;
  {
    SmtpClient client(relay.host(), relay.port());
    ASSERT_TRUE(client.greet_and_ehlo().has_keyword("PIPELINING"));
    const auto replies = client.send_mail_pipelined(
        {"a@example.test", {"u@contoso.test", "", "v@contoso.test"}}, message);
    ASSERT_EQ(replies.size(), 6U);
    EXPECT_EQ(replies[1].code, 250) << replies[1].raw;
    EXPECT_EQ(replies[2].code / 100, 5) << replies[2].raw;
    EXPECT_EQ(replies[3].code, 250) << replies[3].raw;
    EXPECT_EQ(replies[5].code, 250) << replies[5].raw;
    refusal = replies[2].raw.substr(0, replies[2].raw.find("\r\n"));
    client.quit();
  }
  ASSERT_EQ(postfix.wait_for_messages(2, 20s), 2U) << postfix.maillog_tail();
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 1U);
  const auto& messages = docs[0].at("messages").as_array();
  ASSERT_EQ(messages.size(), 1U);
  const auto& m = messages[0].as_object();
  EXPECT_EQ(m.at("rcpt_to").as_array().size(), 3U);
  const auto& refused = m.at("rcpt_refused").as_array();
  ASSERT_EQ(refused.size(), 1U) << boost::json::serialize(m);
  EXPECT_EQ(std::string(refused[0].at("rcpt").as_string()), "");
  EXPECT_EQ(std::string(refused[0].at("reply").as_string()), refusal);
  EXPECT_EQ(std::string(m.at("sha256").as_string()), sha256_hex(message));
}

// Four megabytes in clear text: the relay reads it in 16 KiB chunks, Postfix takes them more
// slowly than they come (partial writes), and lines of every length up to 998 cross the
// chunk boundaries; what Postfix stores and the document's size and SHA-256 must match.
TEST(RelayPassthrough, LargeMessageArrivesByteIdentical) {
  PostfixOptions po;
  po.tls = PostfixTls::none;
  PostfixInstance postfix(po);
  RelayProcess relay({.upstream = postfix.address()});

  std::string message = "From: a@example.test\r\nTo: u@contoso.test\r\nSubject: large\r\n\r\n";
  for (std::size_t i = 0; message.size() < std::size_t{4} << 20; ++i) {
    const auto length = (i * 7919) % 998;  // RFC 5321 §4.5.3.1.6: at most 998 + CRLF
    message += std::string(length, static_cast<char>('a' + i % 26));
    message += i % 101 == 0 ? ".dot first\r\n" : "\r\n";
  }
  {
    SmtpClient client(relay.host(), relay.port());
    client.greet_and_ehlo();
    const auto replies =
        client.send_mail_pipelined({"a@example.test", {"u@contoso.test"}}, message);
    ASSERT_FALSE(replies.empty());
    EXPECT_EQ(replies.back().code, 250);
    client.quit();
  }
  ASSERT_EQ(postfix.wait_for_messages(1, 60s), 1U);
  EXPECT_EQ(strip_delivery_headers(postfix.messages().at(0)), message);
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 1U);
  const auto& m = docs[0].at("messages").as_array().at(0).as_object();
  EXPECT_EQ(m.at("size").as_int64(), static_cast<std::int64_t>(message.size()));
  EXPECT_EQ(std::string(m.at("sha256").as_string()), sha256_hex(message));
}

TEST(RelayPassthrough, BdatChunksAreRelayedUnchanged) {
  PostfixOptions po;
  po.tls = PostfixTls::none;
  PostfixInstance postfix(po);
  RelayProcess relay({.upstream = postfix.address()});

  const std::vector<std::string> chunks = {
      "From: a@example.test\r\nTo: u@contoso.test\r\nSubject: bdat\r\n\r\nfirst chunk\r\n",
      ".\r\na lone dot above is data in a BDAT chunk\r\n", "last chunk\r\n"};
  std::string whole;
  for (const auto& c : chunks) {
    whole += c;
  }
  {
    SmtpClient client(relay.host(), relay.port());
    const auto ehlo = client.greet_and_ehlo();
    ASSERT_TRUE(ehlo.has_keyword("CHUNKING"));
    const auto replies = client.send_mail_bdat({"a@example.test", {"u@contoso.test"}}, chunks);
    ASSERT_FALSE(replies.empty());
    EXPECT_EQ(replies.back().code, 250);
    client.quit();
  }
  ASSERT_EQ(postfix.wait_for_messages(1, 20s), 1U);
  EXPECT_EQ(strip_delivery_headers(postfix.messages().at(0)), whole);
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 1U);
  const auto& m = docs[0].at("messages").as_array().at(0).as_object();
  EXPECT_EQ(std::string(m.at("transfer").as_string()), "BDAT");
  EXPECT_EQ(m.at("size").as_int64(), static_cast<std::int64_t>(whole.size()));
  EXPECT_EQ(std::string(m.at("sha256").as_string()), sha256_hex(whole));
}

TEST(RelayUpstream, UnreachableUpstreamGets421AndADocument) {
  const auto dead = free_loopback_port();  // nothing listens there
  RelayProcess relay({.upstream = "127.0.0.1:" + std::to_string(dead)});
  SmtpClient client(relay.host(), relay.port());
  const auto reply = client.read_reply();
  EXPECT_EQ(reply.code, 421);
  EXPECT_NE(reply.raw.find("4.4.0"), std::string::npos) << reply.raw;
  EXPECT_TRUE(client.wait_closed());
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 1U);
  EXPECT_EQ(json_string(docs[0], "end.reason"), "upstream_unreachable");
}

// A loopback listener that never accepts and whose accept queue is full: Linux drops the
// SYNs that follow (tcp_conn_request, listen overflow), so a connect to it neither succeeds
// nor fails until the connecting side gives up. Only loopback; the fillers are this
// process's own connections.
class SilentUpstream {
 public:
  SilentUpstream() {
    // CLOEXEC: the relay started after this must not inherit (and so seem to own) them.
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listener_, 0) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("SilentUpstream: cannot listen on 127.0.0.1");
    }
    port_ = ntohs(addr.sin_port);
    // Backlog 0 holds one finished connection; two more make sure the queue is full.
    for (int i = 0; i < 3; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      (void)::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      fillers_.push_back(fd);
    }
  }
  ~SilentUpstream() {
    for (const int fd : fillers_) {
      ::close(fd);
    }
    ::close(listener_);
  }
  SilentUpstream(const SilentUpstream&) = delete;
  SilentUpstream& operator=(const SilentUpstream&) = delete;
  SilentUpstream(SilentUpstream&&) = delete;
  SilentUpstream& operator=(SilentUpstream&&) = delete;

  [[nodiscard]] std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // True once process `pid` holds a socket in SYN_SENT (/proc/net/tcp state 02): the relay
  // is connecting. Polls /proc, bounded by `timeout`.
  static bool wait_connecting(pid_t pid, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      std::set<std::string> inodes;
      std::error_code ec;
      const std::filesystem::path fds = "/proc/" + std::to_string(pid) + "/fd";
      for (const auto& e : std::filesystem::directory_iterator(fds, ec)) {
        const auto target = std::filesystem::read_symlink(e.path(), ec).string();
        if (!ec && target.rfind("socket:[", 0) == 0) {
          inodes.insert(target.substr(8, target.size() - 9));
        }
      }
      std::ifstream tcp("/proc/net/tcp");
      std::string line;
      std::getline(tcp, line);  // header
      while (std::getline(tcp, line)) {
        std::istringstream fields(line);
        std::string sl, local, remote, state, queues, timer, retransmits, uid, probes, inode;
        fields >> sl >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
            probes >> inode;
        if (state == "02" && inodes.count(inode) > 0) {
          return true;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling /proc, bounded
    }
    return false;
  }

 private:
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::vector<int> fillers_;
};

TEST(RelayUpstream, ConnectThatNeverCompletesIsCutAtTheConnectDeadline) {
  const SilentUpstream upstream;
  RelayProcess relay(
      {.upstream = upstream.address(), .extra_toml = "[relay.timeouts]\nconnect = \"1s\"\n"});
  SmtpClient client(relay.host(), relay.port());
  const auto reply = client.read_reply();
  EXPECT_EQ(reply.code, 421);
  EXPECT_NE(reply.raw.find("4.4.0"), std::string::npos) << reply.raw;
  EXPECT_NE(reply.raw.find("timed out"), std::string::npos) << reply.raw;
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  const auto doc = relay.documents().at(0);
  EXPECT_EQ(json_string(doc, "end.reason"), "upstream_unreachable");
  EXPECT_NE(json_string(doc, "upstream.connect_error").find("timed out"), std::string::npos);
}

// A shutdown that closes a session while it connects is not an outage of the upstream.
TEST(RelayShutdown, SessionStillConnectingAtShutdownIsRecordedAsShutdown) {
  const SilentUpstream upstream;
  RelayProcess relay({.upstream = upstream.address(),
                      .extra_toml = "[relay.timeouts]\nconnect = \"30s\"\ndrain = \"300ms\"\n"});
  SmtpClient client(relay.host(), relay.port());
  ASSERT_TRUE(SilentUpstream::wait_connecting(relay.process().pid(), 10s)) << relay.stderr_text();
  ::kill(relay.process().pid(), SIGTERM);  // while the session's connect hangs
  EXPECT_TRUE(client.wait_closed());
  const auto code = relay.process().wait(20s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0) << relay.stderr_text();
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 1U) << relay.stderr_text();
  EXPECT_EQ(json_string(docs[0], "end.reason"), "shutdown");
  EXPECT_EQ(boost::json::serialize(docs[0].at("findings")), "[]");
}

TEST(RelayUpstream, UpstreamClosingMidDataNeverGivesTheSenderASuccess) {
  ScriptedUpstream upstream([](ScriptedConnection& c) {
    accept_envelope(c);
    c.read_line();  // the first content line, then hang up
  });
  RelayProcess relay({.upstream = upstream.address()});
  {
    SmtpClient client(relay.host(), relay.port());
    (void)client.greet_and_ehlo();
    EXPECT_EQ(client.command("MAIL FROM:<a@example.test>").code, 250);
    EXPECT_EQ(client.command("RCPT TO:<u@contoso.test>").code, 250);
    EXPECT_EQ(client.command("DATA").code, 354);
    client.send("Subject: cut\r\n\r\nbody\r\n");
    std::string rest;
    try {
      client.send(".\r\n");
      const auto reply = client.read_reply();
      rest = reply.raw;
    } catch (const std::exception&) {
      // the connection was closed: exactly what must happen
    }
    EXPECT_EQ(rest.rfind("250", 0), std::string::npos) << "the sender got: " << rest;
  }  // the sender closes, as an MTA does once the server hung up
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 1U);
  EXPECT_EQ(json_string(docs[0], "end.reason"), "upstream_closed");
  // When upstream went away: the final dot may or may not have reached the relay first.
  const auto detail = json_string(docs[0], "end.detail");
  EXPECT_TRUE(std::regex_search(
      detail, std::regex("^upstream closed the connection during DATA after [0-9]+ bytes of "
                         "content from the sender, (before the final dot|while waiting for the "
                         "reply after the end of data from upstream)$")))
      << detail;
}

// RFC 5321 §4.5.3.2.6: the reply after the final dot may take far longer than a command's.
// With command = 1s and data_end = 10s, a 3-second wait for that reply (a slow content
// filter, Exchange's tarpit) must not break the session.
TEST(RelayTimeouts, SlowReplyAfterFinalDotIsWaitedFor) {
  ScriptedUpstream upstream([](ScriptedConnection& c) {
    accept_envelope(c);
    c.read_until_final_dot();
    std::this_thread::sleep_for(3s);  // the scenario: a slow server, not synchronisation
    c.say("250 2.6.0 queued\r\n");
    c.read_line();
    c.say("221 2.0.0 bye\r\n");
  });
  RelayProcess relay({.upstream = upstream.address(),
                      .extra_toml = "[relay.timeouts]\ncommand = \"1s\"\ndata_end = \"10s\"\n"
                                    "data_block = \"1s\"\n"});
  {
    SmtpClient client(relay.host(), relay.port());
    (void)client.greet_and_ehlo();
    EXPECT_EQ(client.command("MAIL FROM:<a@example.test>").code, 250);
    EXPECT_EQ(client.command("RCPT TO:<u@contoso.test>").code, 250);
    EXPECT_EQ(client.command("DATA").code, 354);
    EXPECT_EQ(client.command("Subject: slow\r\n\r\nbody\r\n.").code, 250);
    client.quit();
  }
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  EXPECT_EQ(json_string(relay.documents().at(0), "end.reason"), "quit");
}

// A reply cut off mid-line by a stalled upstream must not be completed by hopscope's own
// 421: "250 2.6.0 <id> queu" + "421 …\r\n" would read as a whole 250 to the sender.
TEST(RelayTimeouts, TimeoutMidReplyClosesWithoutAddingA421) {
  ScriptedUpstream upstream([](ScriptedConnection& c) {
    accept_envelope(c);
    c.read_until_final_dot();
    c.say("250 2.6.0 <id@up> queu");  // the scenario: upstream stalls mid-line
    c.read_line();                    // until the relay closes
  });
  RelayProcess relay(
      {.upstream = upstream.address(), .extra_toml = "[relay.timeouts]\ndata_end = \"1s\"\n"});
  SmtpClient client(relay.host(), relay.port());
  (void)client.greet_and_ehlo();
  EXPECT_EQ(client.command("MAIL FROM:<a@example.test>").code, 250);
  EXPECT_EQ(client.command("RCPT TO:<u@contoso.test>").code, 250);
  EXPECT_EQ(client.command("DATA").code, 354);
  client.send("Subject: cut\r\n\r\nbody\r\n.\r\n");
  std::string received;
  std::array<char, 512> buf{};
  for (;;) {  // until the relay closes; SmtpClient's receive timeout bounds each read
    const auto n = ::recv(client.fd(), buf.data(), buf.size(), 0);
    if (n <= 0) {
      break;
    }
    received.append(buf.data(), static_cast<std::size_t>(n));
  }
  EXPECT_EQ(received, "250 2.6.0 <id@up> queu");
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  const auto doc = relay.documents().at(0);
  EXPECT_EQ(json_string(doc, "end.reason"), "timeout");
  EXPECT_EQ(json_string(doc, "end.detail"),
            "timed out waiting for the reply after the end of data from upstream");
}

// Postfix: "The entire command must be received within the time limit". A sender that
// trickles one byte every 300 ms is cut after `command` (1s), not kept alive by each byte.
TEST(RelayTimeouts, TricklingSenderIsCutAtOneDeadlinePerCommand) {
  ScriptedUpstream upstream([](ScriptedConnection& c) {
    c.say("220 scripted ESMTP\r\n");
    const auto line = c.read_line();
    if (line != "<eof>") {
      c.say("250 scripted\r\n");
    }
    c.read_line();
  });
  RelayProcess relay(
      {.upstream = upstream.address(), .extra_toml = "[relay.timeouts]\ncommand = \"1s\"\n"});
  SmtpClient client(relay.host(), relay.port());
  EXPECT_EQ(client.read_reply().code, 220);
  const std::string ehlo = "EHLO trickle.example.test\r\n";
  bool cut = false;
  for (const char byte : ehlo) {
    if (::send(client.fd(), &byte, 1, MSG_NOSIGNAL) != 1) {
      cut = true;
      break;
    }
    std::this_thread::sleep_for(300ms);  // the scenario: a slowloris sender
  }
  const auto reply = client.read_reply();  // 421 from hopscope, not 250 from upstream
  EXPECT_EQ(reply.code, 421) << reply.raw << " cut=" << cut;
  EXPECT_NE(reply.raw.find("4.4.2"), std::string::npos) << reply.raw;
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  EXPECT_EQ(json_string(relay.documents().at(0), "end.reason"), "timeout");
}

TEST(RelayLimits, SessionsBeyondMaxSessionsGet421) {
  PostfixOptions po;
  po.tls = PostfixTls::none;
  PostfixInstance postfix(po);
  RelayProcess relay({.upstream = postfix.address(),
                      .extra_toml = "[relay]\nmax_sessions = 1\nmax_sessions_per_client = 1\n"});
  {
    SmtpClient first(relay.host(), relay.port());
    EXPECT_EQ(first.read_reply().code, 220);
    SmtpClient second(relay.host(), relay.port());
    const auto refused = second.read_reply();
    EXPECT_EQ(refused.code, 421);
    EXPECT_NE(refused.raw.find("4.3.2"), std::string::npos) << refused.raw;
    first.quit();
  }  // both senders close
  ASSERT_TRUE(relay.wait_for_sessions(2)) << relay.stderr_text();
  bool saw_limit = false;
  for (const auto& doc : relay.documents()) {
    saw_limit = saw_limit || json_string(doc, "end.reason") == "limit";
  }
  EXPECT_TRUE(saw_limit);
}

TEST(RelayAudit, UnwritableAuditDirectoryDoesNotStopMail) {
  PostfixOptions po;
  po.tls = PostfixTls::none;
  PostfixInstance postfix(po);
  TempDir dir("hopscope-ro");
  write_file(dir.path() / "file", "a regular file: nothing can be created below it");
  RelayProcess relay(
      {.upstream = postfix.address(), .audit_directory = (dir.path() / "file" / "audit").string()});
  const auto file = dir.path() / "m.eml";
  write_file(file, message_text(3));
  const auto r = run_swaks({"--server", relay.address(), "--to", "u@contoso.test", "--from",
                            "a@example.test", "--data", "@" + file.string()});
  ASSERT_EQ(r.exit_code, 0) << r.transcript << r.errors;
  ASSERT_EQ(postfix.wait_for_messages(1, 20s), 1U);
  EXPECT_EQ(strip_delivery_headers(postfix.messages().at(0)), message_text(3) + "\r\n");
  EXPECT_TRUE(
      relay.process().wait_for_line(Stream::err, std::regex("(lost|cannot|could not)"), 20s))
      << relay.stderr_text();
}

TEST(RelayShutdown, SigtermDrainsThenClosesWithShutdownReason) {
  PostfixOptions po;
  po.tls = PostfixTls::none;
  PostfixInstance postfix(po);
  RelayProcess relay(
      {.upstream = postfix.address(), .extra_toml = "[relay.timeouts]\ndrain = \"500ms\"\n"});
  SmtpClient idle(relay.host(), relay.port());
  EXPECT_EQ(idle.read_reply().code, 220);
  ::kill(relay.process().pid(), SIGTERM);
  // RFC 5321 §3.8: a server shutting down says 421 before it closes.
  const auto farewell = idle.read_reply();
  EXPECT_EQ(farewell.code, 421);
  EXPECT_NE(farewell.raw.find("shutting down"), std::string::npos) << farewell.raw;
  EXPECT_TRUE(idle.wait_closed());
  const auto code = relay.process().wait(20s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0) << relay.stderr_text();
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 1U);
  EXPECT_EQ(json_string(docs[0], "end.reason"), "shutdown");
  const auto document = boost::json::serialize(docs[0]);
  EXPECT_NE(document.find("[hopscope] 421 4.3.2 hopscope: shutting down"), std::string::npos)
      << document;
}

// SO_REUSEPORT would let a second relay of the same user join the first one's port and take
// half of its mail: DESIGN.md §3 asks for exit 3, "cannot bind".
TEST(RelayListen, SecondRelayOnTheSameAddressCannotBind) {
  const auto dead = free_loopback_port();
  RelayProcess first({.upstream = "127.0.0.1:" + std::to_string(dead)});
  Process second({hopscope_binary(), "relay", "--listen", first.address(), "--upstream",
                  "127.0.0.1:" + std::to_string(dead), "--duration", "5s"});
  ASSERT_TRUE(second.wait_for_eof(20s));
  EXPECT_EQ(second.wait(20s).value_or(-1), 3);
  EXPECT_NE(second.output(Stream::err).find("cannot listen on " + first.address()),
            std::string::npos)
      << second.output(Stream::err);
}

// A refused session never registers for shutdown; giving back "its" registration once took
// away the first session's, which the drain then never closed: no document for it.
TEST(RelayShutdown, RefusedSessionDoesNotHideTheFirstSessionFromTheDrain) {
  PostfixOptions po;
  po.tls = PostfixTls::none;
  PostfixInstance postfix(po);
  RelayProcess relay({.upstream = postfix.address(),
                      .extra_toml = "[relay]\nmax_sessions_per_client = 1\n"
                                    "[relay.timeouts]\ndrain = \"500ms\"\n"});
  SmtpClient first(relay.host(), relay.port());
  EXPECT_EQ(first.read_reply().code, 220);
  {
    SmtpClient refused(relay.host(), relay.port());
    EXPECT_EQ(refused.read_reply().code, 421);
  }
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  ::kill(relay.process().pid(), SIGTERM);
  EXPECT_TRUE(first.wait_closed());
  const auto code = relay.process().wait(20s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0) << relay.stderr_text();
  std::vector<std::string> reasons;
  for (const auto& doc : relay.documents()) {
    reasons.push_back(json_string(doc, "end.reason"));
  }
  std::sort(reasons.begin(), reasons.end());
  EXPECT_EQ(reasons, (std::vector<std::string>{"limit", "shutdown"})) << relay.stderr_text();
}

}  // namespace
}  // namespace hopscope::test

namespace hopscope::test {
namespace {

// DESIGN.md §5: a session that uses hops_probe.ehlo is one of hopscope's own probes looping
// back through the relay: marked own_probe and judged by nobody (no STARTTLS_NOT_OFFERED here).
TEST(RelayOwnProbe, SessionWithTheProbeEhloNameRaisesNoFinding) {
  ScriptedUpstream upstream([](ScriptedConnection& c) {
    c.say("220 scripted ESMTP\r\n");
    c.read_line();
    c.say("250-scripted\r\n250 8BITMIME\r\n");
    c.read_line();
    c.say("221 bye\r\n");
  });
  RelayProcess relay({.upstream = upstream.address()});
  {
    SmtpClient client(relay.host(), relay.port());
    EXPECT_TRUE(client.greet_and_ehlo("HOPSCOPE-probe.invalid").positive());
    client.quit();
  }
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 1U);
  EXPECT_TRUE(json_at(docs[0], "own_probe")->as_bool());
  EXPECT_TRUE(docs[0].at("findings").as_array().empty());
}

}  // namespace
}  // namespace hopscope::test

namespace hopscope::test {
namespace {

// A sender that sends QUIT and shuts down its sending side at once (a half-close) still gets
// upstream's 221: the relay passes the half-close on instead of tearing the session down,
// and upstream sees the end of the sender's stream.
TEST(RelayHalfClose, SenderHalfCloseReachesUpstreamAndTheReplyStillComesBack) {
  std::atomic<bool> upstream_saw_eof{false};
  ScriptedUpstream upstream([&upstream_saw_eof](ScriptedConnection& c) {
    c.say("220 scripted ESMTP\r\n");
    c.read_line();  // EHLO
    c.say("250 scripted\r\n");
    c.read_line();  // QUIT
    c.say("221 2.0.0 bye\r\n");
    upstream_saw_eof = c.read_line() == "<eof>";
  });
  RelayProcess relay({.upstream = upstream.address()});
  {
    SmtpClient client(relay.host(), relay.port());
    EXPECT_TRUE(client.greet_and_ehlo().positive());
    client.send("QUIT\r\n");
    ASSERT_EQ(::shutdown(client.fd(), SHUT_WR), 0);
    EXPECT_EQ(client.read_reply().code, 221);
    EXPECT_TRUE(client.wait_closed());
  }
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  EXPECT_TRUE(upstream_saw_eof);
  EXPECT_EQ(json_string(relay.documents().at(0), "end.reason"), "quit");
}

}  // namespace
}  // namespace hopscope::test
