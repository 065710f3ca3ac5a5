// The relay's own 421 (upstream unreachable, max_sessions_per_client, a timeout) reaches a
// sender that has sent bytes the relay never read, followed by an orderly close (FIN), never
// by a reset: a socket closed with unread bytes, or that receives bytes after its close,
// answers with RST (RFC 1122 §4.2.2.13), and a sender's stack may then drop the 421 unread.
// The relay shuts its sending side after the 421 and drops what the sender still sends until
// the sender closes (a lingering close), bounded in time and bytes.
//
// How a reset is seen on Linux: a sender that has read the FIN still reads end of file after
// a RST, but the RST leaves an error on the socket (EPIPE, or ECONNRESET) and closes it. So
// each test reads the 421 and the end of file, half-closes, waits (poll, not a sleep) until
// the connection is closed or reset, and then asks SO_ERROR.

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include "relay_fixture.hpp"
#include "scripted_upstream.hpp"
#include "smtp_client.hpp"
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

namespace hopscope::test {
namespace {

using namespace std::chrono_literals;

std::string errno_text(int error) {
  return std::generic_category().message(error);
}

// What the sender saw of the relay's end of the connection.
struct SenderView {
  std::string received;  // every byte read until end of file or an error
  int read_error = 0;    // errno of the read that ended it; 0: end of file
  int socket_error = 0;  // SO_ERROR once the connection is closed: a reset leaves one
  bool closed = false;   // the connection closed (POLLHUP) within the wait
};

std::string describe(const SenderView& v) {
  return "received \"" + v.received + "\", read ended with " +
         (v.read_error == 0 ? std::string("end of file") : errno_text(v.read_error)) +
         ", socket error " +
         (v.socket_error == 0 ? std::string("none") : errno_text(v.socket_error)) +
         (v.closed ? "" : ", connection not closed within 10 s");
}

// Reads until end of file or an error (the SmtpClient's 10 s receive timeout bounds each read).
void read_to_end(int fd, SenderView& v) {
  std::array<char, 4096> chunk{};
  for (;;) {
    const auto n = ::recv(fd, chunk.data(), chunk.size(), 0);
    if (n > 0) {
      v.received.append(chunk.data(), static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    v.read_error = n == 0 ? 0 : errno;
    return;
  }
}

// Reads everything, then closes our side and waits until the connection is gone: the relay
// acknowledges our FIN (orderly) or resets. Then the error a reset left, if any.
SenderView read_then_close(int fd) {
  SenderView v;
  read_to_end(fd, v);
  (void)::shutdown(fd, SHUT_WR);
  pollfd p{fd, POLLIN, 0};
  v.closed = ::poll(&p, 1, 10000) > 0 && (p.revents & (POLLHUP | POLLERR)) != 0;
  int error = 0;
  socklen_t len = sizeof error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0) {
    v.socket_error = error;
  }
  return v;
}

bool is_one_line(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0 && text.size() > 2 && text.find("\r\n") == text.size() - 2;
}

// An upstream that greets and then reads until the relay closes (holds a session open).
ScriptedUpstream greeting_upstream() {
  return ScriptedUpstream([](ScriptedConnection& c) {
    c.say("220 mail.contoso.test ESMTP\r\n");
    while (c.read_line() != "<eof>") {
    }
  });
}

std::string unreachable_upstream() {
  return "127.0.0.1:" + std::to_string(free_loopback_port());  // nothing listens there
}

// The sender talks before the banner: its EHLOs wait unread in the relay's socket when the
// relay gives up on the dead upstream. The document is written when the relay is done with
// the session (before this fix: after its close, whose RST had left by then).
TEST(RelayLingeringClose, EarlyTalkerGetsThe421ThenAnOrderlyClose) {
  RelayProcess relay({.upstream = unreachable_upstream()});
  SmtpClient client(relay.host(), relay.port());
  for (int i = 0; i < 5; ++i) {
    client.send("EHLO early.example.test\r\n");
  }
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  const auto seen = read_then_close(client.fd());
  EXPECT_TRUE(is_one_line(seen.received, "421 4.4.0 hopscope: upstream unreachable"))
      << describe(seen);
  EXPECT_EQ(seen.read_error, 0) << describe(seen);
  EXPECT_EQ(seen.socket_error, 0) << "the relay reset the connection: " << describe(seen);
  EXPECT_TRUE(seen.closed) << describe(seen);
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 1U);
  EXPECT_EQ(json_string(docs[0], "end.reason"), "upstream_unreachable");
}

// The refusal for max_sessions_per_client, to a second connection that talks first.
TEST(RelayLingeringClose, RefusedSenderThatTalksFirstGetsThe421ThenAnOrderlyClose) {
  auto upstream = greeting_upstream();
  RelayProcess relay(
      {.upstream = upstream.address(), .extra_toml = "[relay]\nmax_sessions_per_client = 1\n"});
  SmtpClient first(relay.host(), relay.port());
  ASSERT_EQ(first.read_reply().code, 220);  // holds the one place of 127.0.0.1
  SmtpClient second(relay.host(), relay.port());
  second.send(
      "EHLO pipelining.example.test\r\nMAIL FROM:<a@example.test>\r\nRCPT "
      "TO:<u@contoso.test>\r\nDATA\r\n");
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();  // the refused one
  const auto seen = read_then_close(second.fd());
  EXPECT_TRUE(is_one_line(seen.received,
                          "421 4.3.2 hopscope: too many sessions from 127.0.0.1 "
                          "(max_sessions_per_client = 1)"))
      << describe(seen);
  EXPECT_EQ(seen.read_error, 0) << describe(seen);
  EXPECT_EQ(seen.socket_error, 0) << "the relay reset the connection: " << describe(seen);
  EXPECT_TRUE(seen.closed) << describe(seen);
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 1U);
  EXPECT_EQ(json_string(docs[0], "end.reason"), "limit");
}

// The timeout 421, then commands from the sender that arrive after it: before this fix, the
// relay read the first and closed with the rest unread, or they reached a socket already
// closed; either way it answered with RST.
TEST(RelayLingeringClose, CommandAfterTheTimeout421DoesNotResetTheConnection) {
  auto upstream = greeting_upstream();
  RelayProcess relay(
      {.upstream = upstream.address(), .extra_toml = "[relay.timeouts]\ncommand = \"1s\"\n"});
  SmtpClient client(relay.host(), relay.port());
  ASSERT_EQ(client.read_reply().code, 220);
  const auto goodbye = client.read_reply();  // the sender says nothing: timeouts.command
  EXPECT_EQ(goodbye.code, 421) << goodbye.raw;
  EXPECT_NE(goodbye.raw.find("4.4.2"), std::string::npos) << goodbye.raw;
  // One segment each, so that some arrive after the relay's last read. A reset makes the next
  // send fail (and takes the error off the socket).
  int send_error = 0;
  for (int i = 0; i < 20 && send_error == 0; ++i) {
    const std::string_view command = i == 0 ? "QUIT\r\n" : "NOOP\r\n";
    if (::send(client.fd(), command.data(), command.size(), MSG_NOSIGNAL) < 0) {
      send_error = errno;
    }
  }
  EXPECT_EQ(send_error, 0) << "the relay reset the connection: " << errno_text(send_error);
  const auto seen = read_then_close(client.fd());
  EXPECT_EQ(seen.received, "") << describe(seen);
  EXPECT_EQ(seen.read_error, 0) << describe(seen);
  EXPECT_EQ(seen.socket_error, 0) << "the relay reset the connection: " << describe(seen);
  EXPECT_TRUE(seen.closed) << describe(seen);
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  EXPECT_EQ(json_string(relay.documents().at(0), "end.reason"), "timeout");
}

// A sender that reads the 421 and never closes its side: it sees the end of file at once (the
// FIN follows the 421), and the relay closes its socket at the linger bound (2 s) on its own.
// The sender notices by sending: bytes the lingering relay reads and drops, until a byte
// reaches the closed socket and is answered with a reset. Each send is followed by a poll
// for that reset, bounded at 100 ms, so the bytes are paced, not waited on.
TEST(RelayLingeringClose, SenderThatNeverClosesHoldsTheSessionOnlyForTheLingerBound) {
  RelayProcess relay({.upstream = unreachable_upstream()});
  SmtpClient client(relay.host(), relay.port());
  SenderView seen;
  read_to_end(client.fd(), seen);  // within the client's 10 s receive timeout
  const auto said = std::chrono::steady_clock::now();
  EXPECT_TRUE(is_one_line(seen.received, "421 4.4.0 ")) << describe(seen);
  EXPECT_EQ(seen.read_error, 0) << describe(seen);
  int error = 0;
  while (error == 0 && std::chrono::steady_clock::now() - said < 10s) {
    if (::send(client.fd(), "x", 1, MSG_NOSIGNAL) < 0) {
      error = errno;
      break;
    }
    pollfd p{client.fd(), 0, 0};  // POLLERR and POLLHUP only: a reset
    if (::poll(&p, 1, 100) > 0) {
      socklen_t len = sizeof error;
      ::getsockopt(client.fd(), SOL_SOCKET, SO_ERROR, &error, &len);
      error = error == 0 ? ECONNRESET : error;
    }
  }
  const auto held = std::chrono::steady_clock::now() - said;
  EXPECT_TRUE(error == ECONNRESET || error == EPIPE)
      << (error == 0 ? "not closed within 10 s" : errno_text(error));
  EXPECT_GE(held, 1500ms) << "the relay closed before the linger bound";
  EXPECT_LT(held, 5s);
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
}

// SIGTERM with only lingering sessions (their documents written, their senders holding the
// connection open after reading the 421): the drain does not wait for them, the relay exits
// at once (before this fix, the drain waited for each linger to end: here, a drain of 1 s was
// over first and closed them, "drain period over: closing 5 sessions").
TEST(RelayLingeringClose, SigtermWithOnlyLingeringSessionsExitsWithoutWaitingForThem) {
  RelayProcess relay(
      {.upstream = unreachable_upstream(), .extra_toml = "[relay.timeouts]\ndrain = \"1s\"\n"});
  std::vector<std::unique_ptr<SmtpClient>> senders;
  for (int i = 0; i < 5; ++i) {
    senders.push_back(std::make_unique<SmtpClient>(relay.host(), relay.port()));
    SenderView seen;
    read_to_end(senders.back()->fd(), seen);  // the 421 and its FIN; the sender stays open
    ASSERT_TRUE(is_one_line(seen.received, "421 4.4.0 ")) << describe(seen);
  }
  ASSERT_TRUE(relay.wait_for_sessions(5)) << relay.stderr_text();  // documents written
  const auto signalled = std::chrono::steady_clock::now();
  ::kill(relay.process().pid(), SIGTERM);
  const auto code = relay.process().wait(10s);
  const auto took = std::chrono::steady_clock::now() - signalled;
  ASSERT_TRUE(code.has_value()) << "the relay still runs 10 s after SIGTERM\n"
                                << relay.stderr_text();
  EXPECT_EQ(*code, 0) << relay.stderr_text();
  const auto log = relay.stderr_text();
  EXPECT_EQ(log.find("drain period over"), std::string::npos) << log;
  EXPECT_EQ(log.find("did not close"), std::string::npos) << log;
  // The linger bound is 2 s and the drain 1 s: either would be over before this.
  EXPECT_LT(took, 900ms) << log;
  const auto docs = relay.documents();
  ASSERT_EQ(docs.size(), 5U);
  for (const auto& doc : docs) {
    EXPECT_EQ(json_string(doc, "end.reason"), "upstream_unreachable");
  }
}

// A sender that streams on after the 421 is not read forever: past the byte bound the relay
// closes, and the stream then fails (reset) long before the 16 MiB this sender would send.
TEST(RelayLingeringClose, SenderStreamingAfterThe421IsCutAtTheByteBound) {
  RelayProcess relay({.upstream = unreachable_upstream()});
  SmtpClient client(relay.host(), relay.port());
  SenderView seen;
  read_to_end(client.fd(), seen);
  ASSERT_TRUE(is_one_line(seen.received, "421 4.4.0 ")) << describe(seen);
  const timeval ten_seconds{10, 0};
  ::setsockopt(client.fd(), SOL_SOCKET, SO_SNDTIMEO, &ten_seconds, sizeof ten_seconds);
  const std::string block(std::size_t{16} * 1024, 'x');
  std::size_t sent = 0;
  int error = 0;
  while (sent < (std::size_t{16} << 20U)) {
    const auto n = ::send(client.fd(), block.data(), block.size(), MSG_NOSIGNAL);
    if (n < 0) {
      error = errno;
      break;
    }
    sent += static_cast<std::size_t>(n);
  }
  EXPECT_TRUE(error == ECONNRESET || error == EPIPE)
      << "after " << sent << " bytes: " << (error == 0 ? "no error" : errno_text(error));
}

}  // namespace
}  // namespace hopscope::test
