// Connecting to an upstream host name with several addresses (proxy/session.cpp,
// connect_upstream): the relay tries each in turn, and when none connects the sender's 421 and
// the audit say what each address did, also when timeouts.connect passes first (one MX
// address refusing, the next firewalled). The name resolves through the LD_PRELOAD shim
// (support/hung_dns.cpp, "*.multi.test") to loopback addresses only.

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

#include <gtest/gtest.h>

#include "relay_fixture.hpp"
#include "smtp_client.hpp"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace hopscope::test {
namespace {

using namespace std::chrono_literals;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {
    if (fd_ < 0) {
      throw std::runtime_error(std::string("socket: ") + std::generic_category().message(errno));
    }
  }
  ~Fd() { ::close(fd_); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&&) = delete;
  Fd& operator=(Fd&&) = delete;
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

sockaddr_in loopback(const char* address, std::uint16_t port) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  if (::inet_pton(AF_INET, address, &sin.sin_addr) != 1) {
    throw std::invalid_argument(address);
  }
  return sin;
}

// NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API takes sockaddr*
bool bind_to(const Fd& fd, const sockaddr_in& sin) {
  return ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sin), sizeof sin) == 0;
}

std::uint16_t bound_port(const Fd& fd) {
  sockaddr_in sin{};
  socklen_t length = sizeof sin;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sin), &length) != 0) {
    throw std::runtime_error(std::string("getsockname: ") + std::generic_category().message(errno));
  }
  return ntohs(sin.sin_port);
}

bool connect_to(const Fd& fd, const sockaddr_in& sin) {
  return ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sin), sizeof sin) == 0;
}
// NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)

// One port P on two loopback addresses: 127.0.0.1:P refuses (a socket bound there holds the
// port but does not listen: the kernel answers a SYN with a reset), 127.0.0.2:P never answers
// (a listener with backlog 0 whose one queued connection is never accepted: with its accept
// queue full, Linux drops further SYNs, tcp_conn_request(), and the connecting side keeps
// retransmitting its SYN for as long as tcp_syn_retries allows, minutes).
struct RefusingThenSilent {
  RefusingThenSilent() {
    for (int attempt = 0; attempt < 20; ++attempt) {
      silent = std::make_unique<Fd>(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      refusing = std::make_unique<Fd>(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (!bind_to(*silent, loopback("127.0.0.2", 0))) {
        throw std::runtime_error(std::string("bind 127.0.0.2:0: ") +
                                 std::generic_category().message(errno));
      }
      port = bound_port(*silent);
      if (bind_to(*refusing, loopback("127.0.0.1", port))) {
        break;  // else 127.0.0.1:P is taken: another port
      }
      port = 0;
    }
    if (port == 0) {
      throw std::runtime_error("no port free on both 127.0.0.1 and 127.0.0.2");
    }
    if (::listen(silent->get(), 0) != 0) {
      throw std::runtime_error(std::string("listen: ") + std::generic_category().message(errno));
    }
    filler = std::make_unique<Fd>(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!connect_to(*filler, loopback("127.0.0.2", port))) {
      throw std::runtime_error(std::string("connect 127.0.0.2: ") +
                               std::generic_category().message(errno));
    }
    // The filler is in the accept queue once the listener is readable: the queue is full.
    pollfd queued{silent->get(), POLLIN, 0};
    if (::poll(&queued, 1, 5000) != 1) {
      throw std::runtime_error("the filler connection never reached the accept queue");
    }
  }

  std::unique_ptr<Fd> silent;
  std::unique_ptr<Fd> refusing;
  std::unique_ptr<Fd> filler;
  std::uint16_t port = 0;
};

// The premise of the test below, checked on this host: a connect to the full listener gets
// no answer, one to the bound socket is refused.
TEST(RelayConnect, FullAcceptQueueDropsTheSynAndABoundSocketRefuses) {
  const RefusingThenSilent upstream;
  const Fd refused(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const bool refused_connected = connect_to(refused, loopback("127.0.0.1", upstream.port));
  const int refused_error = errno;
  EXPECT_FALSE(refused_connected);
  EXPECT_EQ(refused_error, ECONNREFUSED) << std::generic_category().message(refused_error);
  const Fd unanswered(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  const bool answered_at_once = connect_to(unanswered, loopback("127.0.0.2", upstream.port));
  const int unanswered_error = errno;
  EXPECT_FALSE(answered_at_once);
  EXPECT_EQ(unanswered_error, EINPROGRESS) << std::generic_category().message(unanswered_error);
  // Past the first SYN retransmission (1 s, RFC 6298 §2.1): still no answer either way.
  pollfd pending{unanswered.get(), POLLOUT, 0};
  EXPECT_EQ(::poll(&pending, 1, 1500), 0) << "the connection was answered";
}

RelayOptions multi_address_relay(std::uint16_t port, const std::string& addresses) {
  return {.upstream = "mx.multi.test:" + std::to_string(port),
          .extra_toml = "[relay.timeouts]\nconnect = \"2s\"\n",
          // Under the sanitize preset the relay carries ASan, whose runtime must otherwise
          // come first in the preload list.
          .extra_env = {std::string("LD_PRELOAD=") + HOPSCOPE_HUNG_DNS,
                        "HOPSCOPE_TEST_ADDRESSES=" + addresses,
                        "ASAN_OPTIONS=verify_asan_link_order=0"}};
}

// The deadline passes while the second address is tried: the 421 says the first refused and
// the second never answered, not only "timed out".
TEST(RelayConnect, TimeoutAfterARefusedAddressNamesWhatEachAddressDid) {
  const RefusingThenSilent upstream;
  const auto p = std::to_string(upstream.port);
  RelayProcess relay(multi_address_relay(upstream.port, "127.0.0.1,127.0.0.2"));
  SmtpClient client(relay.host(), relay.port(), 10s);
  const auto started = std::chrono::steady_clock::now();
  SmtpReply greeting;
  try {
    greeting = client.read_reply();
  } catch (const std::exception& e) {
    FAIL() << "no 421 within 10 s: " << e.what() << "\n" << relay.stderr_text();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 8s);
  const std::string expected = "connect to mx.multi.test:" + p +
                               " timed out after 2s: 127.0.0.1:" + p +
                               ": Connection refused; 127.0.0.2:" + p + ": no answer";
  EXPECT_EQ(greeting.code, 421) << greeting.raw;
  EXPECT_EQ(greeting.raw,
            "421 4.4.0 hopscope: upstream unreachable (" + expected + "); try again later\r\n");
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  const auto documents = relay.documents();
  ASSERT_EQ(documents.size(), 1U);
  EXPECT_EQ(json_string(documents.front(), "end.reason"), "upstream_unreachable");
  EXPECT_EQ(json_string(documents.front(), "end.detail"), expected);
  EXPECT_EQ(json_string(documents.front(), "upstream.connect_error"), expected);
}

// Both addresses refuse before the deadline: each named, no timeout said.
TEST(RelayConnect, EveryAddressRefusedNamesEachAddress) {
  const RefusingThenSilent upstream;
  const auto p = std::to_string(upstream.port);
  // A second socket bound without listening on 127.0.0.3:P refuses as 127.0.0.1:P does.
  const Fd also_refusing(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!bind_to(also_refusing, loopback("127.0.0.3", upstream.port))) {
    GTEST_SKIP() << "127.0.0.3:" << p << " is taken";
  }
  RelayProcess relay(multi_address_relay(upstream.port, "127.0.0.1,127.0.0.3"));
  SmtpClient client(relay.host(), relay.port(), 10s);
  const auto greeting = client.read_reply();
  const std::string expected = "connect to mx.multi.test:" + p + ": 127.0.0.1:" + p +
                               ": Connection refused; 127.0.0.3:" + p + ": Connection refused";
  EXPECT_EQ(greeting.code, 421) << greeting.raw;
  EXPECT_NE(greeting.raw.find("(" + expected + ")"), std::string::npos) << greeting.raw;
  ASSERT_TRUE(relay.wait_for_sessions(1)) << relay.stderr_text();
  const auto documents = relay.documents();
  ASSERT_EQ(documents.size(), 1U);
  EXPECT_EQ(json_string(documents.front(), "end.reason"), "upstream_unreachable");
  EXPECT_EQ(json_string(documents.front(), "end.detail"), expected);
}

}  // namespace
}  // namespace hopscope::test
