#include "idle_sessions.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>

#include "bench_process.hpp"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace hopscope::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int batch_size = 200;  // well under somaxconn, so no SYN is dropped
constexpr auto batch_deadline = std::chrono::seconds(30);

}  // namespace

IdleSessions::~IdleSessions() {
  close_all();
}

void IdleSessions::close_all() {
  for (const int fd : fds_) {
    ::close(fd);
  }
  fds_.clear();
}

std::string IdleSessions::open(std::uint16_t port, int count) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  for (int done = 0; done < count;) {
    const int n = std::min(batch_size, count - done);
    std::vector<pollfd> polls;
    polls.reserve(static_cast<std::size_t>(n));
    std::vector<std::string> greetings(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        return "socket: " + errno_text(errno);
      }
      fds_.push_back(fd);
      // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
      if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 &&
          errno != EINPROGRESS) {
        return "connect: " + errno_text(errno);
      }
      polls.push_back({fd, POLLIN, 0});
    }
    int pending = n;
    const auto deadline = Clock::now() + batch_deadline;
    while (pending > 0) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        return std::to_string(pending) + " of a batch of " + std::to_string(n) +
               " connections got no greeting within 30 s (" + std::to_string(done) +
               " open before)";
      }
      if (poll(polls.data(), polls.size(), static_cast<int>(left.count())) < 0 && errno != EINTR) {
        return "poll: " + errno_text(errno);
      }
      for (std::size_t i = 0; i < polls.size(); ++i) {
        auto& p = polls[i];
        if (p.fd < 0 || p.revents == 0) {
          continue;
        }
        std::array<char, 512> buf{};
        const auto r = read(p.fd, buf.data(), buf.size());
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
          continue;
        }
        if (r <= 0) {
          return "connection " + std::to_string(done + static_cast<int>(i)) + " " +
                 (r < 0 ? errno_text(errno) : "closed") + " before its greeting" +
                 (greetings[i].empty() ? "" : ": " + greetings[i]);
        }
        greetings[i].append(buf.data(), static_cast<std::size_t>(r));
        if (greetings[i].find('\n') != std::string::npos) {
          if (greetings[i].rfind("220", 0) != 0) {
            return "greeting was not 220: " + greetings[i];
          }
          p.fd = -1;  // poll ignores negative descriptors
          --pending;
        }
      }
    }
    done += n;
  }
  return {};
}

}  // namespace hopscope::bench
