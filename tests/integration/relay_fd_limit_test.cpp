// The relay at its file descriptor limit (RLIMIT_NOFILE): a sender accepted when no
// descriptor is left for its upstream socket is refused with 421 4.3.2 as hopscope's own
// limit (end.reason "limit"), never reported as an unreachable upstream; accept(2) failing
// with EMFILE is said once, repeated at most every 10 s, retried without a busy loop, and
// said again when accepting works again; the startup warning says what happens at the limit.
//
// The refused sender's audit document is not lost to the shortage: it is written, at once
// through the audit writer's reserve of descriptors or, failing that, once sessions end and
// free theirs.
//
// The limit is lowered on the running relay with prlimit(2): the test counts the relay's open
// descriptors in /proc/PID/fd and sets the soft limit so that exactly as many are free as the
// test means to use.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "relay_fixture.hpp"
#include "smtp_client.hpp"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

namespace hopscope::test {
namespace {

using namespace std::chrono_literals;

// An upstream on 127.0.0.1 that greets every connection, answers nothing, and closes a
// connection when its peer does (so the relay's session ends and frees its descriptors).
class GreetingUpstream {
 public:
  GreetingUpstream() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&a), len) != 0 ||
        ::listen(listener_, 64) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw std::runtime_error("the greeting upstream cannot listen on 127.0.0.1");
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~GreetingUpstream() {
    ::shutdown(listener_, SHUT_RDWR);  // wakes poll(2); accept(2) then fails
    thread_.join();
    ::close(listener_);
    for (const int fd : held_) {
      ::close(fd);
    }
  }
  GreetingUpstream(const GreetingUpstream&) = delete;
  GreetingUpstream& operator=(const GreetingUpstream&) = delete;
  GreetingUpstream(GreetingUpstream&&) = delete;
  GreetingUpstream& operator=(GreetingUpstream&&) = delete;

  [[nodiscard]] std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::vector<int> held_;  // the serving thread's until it ended

  void serve() {
    for (;;) {
      std::vector<pollfd> fds{{listener_, POLLIN, 0}};
      for (const int fd : held_) {
        fds.push_back({fd, POLLIN, 0});
      }
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        return;
      }
      for (std::size_t i = 1; i < fds.size(); ++i) {
        std::array<char, 512> buf{};
        if (fds[i].revents != 0 && ::read(fds[i].fd, buf.data(), buf.size()) <= 0) {
          ::close(fds[i].fd);  // the peer closed: so do we
          held_.erase(std::find(held_.begin(), held_.end(), fds[i].fd));
        }
      }
      if (fds[0].revents != 0) {
        const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
          return;  // shut down by the destructor
        }
        static constexpr std::string_view greeting = "220 held.example.test ESMTP\r\n";
        (void)!::write(fd, greeting.data(), greeting.size());
        held_.push_back(fd);
      }
    }
  }
};

// The descriptor numbers `pid` has open.
std::set<int> open_descriptors(pid_t pid) {
  std::set<int> fds;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    fds.insert(std::stoi(entry.path().filename().string()));
  }
  return fds;
}

// Sets the relay's soft RLIMIT_NOFILE so that exactly `free` descriptor numbers below it are
// unused (the kernel hands out the lowest free number; EMFILE once none is below the limit).
// Returns the limit set.
rlim_t leave_free_descriptors(pid_t pid, int free) {
  const auto used = open_descriptors(pid);
  int limit = 0;
  for (int left = free; left > 0; ++limit) {
    if (used.count(limit) == 0) {
      --left;
    }
  }
  rlimit old{};
  if (::prlimit(pid, RLIMIT_NOFILE, nullptr, &old) != 0) {
    ADD_FAILURE() << "prlimit(2) could not read the relay's limit";
    return 0;
  }
  const rlimit lowered{static_cast<rlim_t>(limit), old.rlim_max};
  if (::prlimit(pid, RLIMIT_NOFILE, &lowered, nullptr) != 0) {
    ADD_FAILURE() << "prlimit(2) could not lower the relay's limit";
  }
  return lowered.rlim_cur;
}

// Waits for the relay's line that says it relays, after the listeners: it is idle from then on.
// The sanitizer runtime needs free descriptors itself: UBSan's vptr check tests memory with
// pipe(2) (sanitizer_common's IsAccessibleMemoryRange), so in a relay that has used every
// descriptor on purpose it reports every object as having an invalid vptr. The CI build runs
// these tests; the sanitize preset cannot.
#if defined(__SANITIZE_ADDRESS__)
#  define SKIP_WHEN_SANITIZED()                                                           \
    GTEST_SKIP() << "sanitized build: the sanitizer runtime needs free file descriptors " \
                    "(pipe(2) in its vptr check) and reports false errors at the limit"
#else
#  define SKIP_WHEN_SANITIZED() static_cast<void>(0)
#endif

void wait_until_idle(RelayProcess& relay) {
  static const std::regex relaying("relaying to ");
  ASSERT_TRUE(relay.process().wait_for_line(Stream::err, relaying, 20s))
      << relay.process().describe();
}

// A sender that connected through the relay and read upstream's greeting: it holds two of the
// relay's descriptors (its own and the one to upstream).
std::unique_ptr<SmtpClient> held_session(const RelayProcess& relay) {
  auto client = std::make_unique<SmtpClient>(relay.host(), relay.port());
  const auto greeting = client->read_reply();
  EXPECT_EQ(greeting.code, 220) << greeting.raw;
  return client;
}

TEST(RelayFdLimit, SenderWithoutDescriptorForUpstreamIsRefusedAsOwnLimitNotUnreachable) {
  SKIP_WHEN_SANITIZED();
  GreetingUpstream upstream;
  RelayProcess relay({.upstream = upstream.address()});
  wait_until_idle(relay);
  // Two sessions fit; the third sender is accepted with the last descriptor, and its
  // upstream socket finds none.
  const auto limit = leave_free_descriptors(relay.process().pid(), 2 * 2 + 1);
  auto first = held_session(relay);
  auto second = held_session(relay);

  SmtpClient third(relay.host(), relay.port());
  const auto refusal = third.read_reply();
  EXPECT_EQ(refusal.code, 421) << refusal.raw;
  EXPECT_EQ(refusal.raw, "421 4.3.2 hopscope: out of file descriptors (limit " +
                             std::to_string(limit) + "); try again later\r\n");
  EXPECT_TRUE(third.wait_closed());

  // The summary line is printed from the same facts as the document.
  static const std::regex summary(
      R"(session (\S+) .* end=(\S+) findings=\[([^\]]*)\] verdict: (.*))");
  const auto line = relay.process().wait_for_line(Stream::err, summary, 20s);
  ASSERT_TRUE(line) << relay.process().describe();
  const auto id = line->groups.at(1);
  EXPECT_EQ(line->groups.at(2), "limit") << line->line;
  EXPECT_EQ(line->groups.at(3), "") << line->line;  // no UPSTREAM_UNREACHABLE
  EXPECT_NE(
      line->groups.at(4).find("out of file descriptors (limit " + std::to_string(limit) + ")"),
      std::string::npos)
      << line->line;
  EXPECT_NE(line->groups.at(4).find("upstream was not tried"), std::string::npos) << line->line;
  const auto err = relay.stderr_text();
  EXPECT_EQ(err.find("UPSTREAM_UNREACHABLE"), std::string::npos) << err;
  EXPECT_EQ(err.find("upstream unreachable"), std::string::npos) << err;

  // Its document needs two descriptors at once (its folder and its file), more than the
  // relay had left: the writer's reserve, or the descriptors the held sessions free when they
  // end, write it while the relay runs, never counted as lost.
  first.reset();
  second.reset();
  const auto document = [&]() -> std::optional<std::filesystem::path> {
    std::error_code ec;
    for (const auto& day : std::filesystem::directory_iterator(relay.audit_directory(), ec)) {
      if (std::filesystem::exists(day.path() / (id + ".json"))) {
        return day.path() / (id + ".json");
      }
    }
    return std::nullopt;
  };
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!document() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);  // polling the file system, bounded by the deadline
  }
  const auto path = document();
  ASSERT_TRUE(path) << "no document for " << id << "; " << relay.process().describe();
  const auto doc = boost::json::parse(read_file(*path)).as_object();
  EXPECT_EQ(json_string(doc, "end.reason"), "limit") << doc;
  EXPECT_EQ(json_string(doc, "id"), id);
  EXPECT_EQ(relay.process().terminate(), 0) << relay.process().describe();
  EXPECT_NE(relay.stderr_text().find("stopped; every audit document was written"),
            std::string::npos)
      << relay.process().describe();
  std::ifstream index(relay.audit_directory() / "sessions.jsonl");
  std::vector<boost::json::object> refused;
  for (std::string text; std::getline(index, text);) {
    auto entry = boost::json::parse(text).as_object();
    if (entry.at("end").as_string() != "quit" && entry.at("end").as_string() != "client_closed") {
      refused.push_back(std::move(entry));
    }
  }
  ASSERT_EQ(refused.size(), 1U) << relay.process().describe();
  EXPECT_EQ(std::string(refused[0].at("end").as_string()), "limit");
  EXPECT_TRUE(refused[0].at("findings").as_array().empty());
  EXPECT_NE(std::string(refused[0].at("verdict").as_string()).find("upstream was not tried"),
            std::string::npos)
      << refused[0];
}

TEST(RelayFdLimit, AcceptOutOfDescriptorsIsSaidOnceRetriedAndSaidWhenItWorksAgain) {
  SKIP_WHEN_SANITIZED();
  GreetingUpstream upstream;
  RelayProcess relay({.upstream = upstream.address()});
  wait_until_idle(relay);
  // Two sessions take every descriptor: the third connection waits in the listen queue while
  // accept(2) fails with EMFILE.
  leave_free_descriptors(relay.process().pid(), 2 * 2);
  auto first = held_session(relay);
  const auto second = held_session(relay);
  const auto failing_since = std::chrono::steady_clock::now();
  SmtpClient waiting(relay.host(), relay.port());  // the kernel completes the handshake

  static const std::regex accept_warning(R"(warn.*accept on 127\.0\.0\.1: Too many open files)");
  const auto warned = relay.process().wait_for_line(Stream::err, accept_warning, 20s);
  ASSERT_TRUE(warned) << relay.process().describe();
  // Retried every 100 ms, but said again only after 10 s: no second line within a second.
  EXPECT_FALSE(relay.process().wait_for_line(Stream::err, accept_warning, 1s, warned->index + 1))
      << relay.process().describe();

  first.reset();  // frees two descriptors: one to accept with, one for the upstream socket
  static const std::regex recovered(
      R"(accept on 127\.0\.0\.1 works again after (\d+)\.(\d+) s: (\d+) failures?, (\d+) of them not logged)");
  const auto again = relay.process().wait_for_line(Stream::err, recovered, 20s);
  ASSERT_TRUE(again) << relay.process().describe();
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - failing_since);
  const auto failures = std::stoull(again->groups.at(3));
  const auto not_logged = std::stoull(again->groups.at(4));
  EXPECT_EQ(not_logged, failures - 1) << again->line;  // one line said, the rest counted
  EXPECT_GE(failures, 5U) << again->line;              // retried while the test waited a second
  // A pause between attempts, not a busy loop: at most one attempt per 100 ms per thread
  // (each thread has its own listener), with one attempt of slack at each end.
  const auto threads = std::max(1U, std::thread::hardware_concurrency());
  EXPECT_LE(failures, threads * (static_cast<std::uint64_t>(elapsed.count()) / 100 + 2))
      << again->line << " within " << elapsed.count() << " ms";

  // The connection that waited is served now.
  const auto greeting = waiting.read_reply();
  EXPECT_EQ(greeting.code, 220) << greeting.raw;
}

TEST(RelayFdLimit, StartupWarningSaysWhatHappensAtTheDescriptorLimit) {
  GreetingUpstream upstream;
  RelayProcess relay({.upstream = upstream.address(),
                      .extra_toml = "[relay]\nmax_sessions = 2000\n",
                      .command_prefix = {"prlimit", "--nofile=256:256", "--"}});
  static const std::regex warning(
      R"(file descriptor limit 256 is below the 4064 that max_sessions = 2000 needs; beyond that, senders get "421 4.3.2 out of file descriptors" and further connections wait in the listen queue)");
  EXPECT_TRUE(relay.process().wait_for_line(Stream::err, warning, 20s))
      << relay.process().describe();
  EXPECT_EQ(relay.stderr_text().find("refused by the kernel"), std::string::npos);
}

}  // namespace
}  // namespace hopscope::test
