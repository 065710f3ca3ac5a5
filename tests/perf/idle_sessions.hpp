// Idle SMTP sessions for hopscope_bench's memory figure: N loopback connections that each
// received a whole 220 greeting line, so the proxy in between holds both legs of every one.
// std + POSIX only. Every wait has a deadline; never sends a byte.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hopscope::bench {

// Owns client sockets; closes them on destruction or close_all().
class IdleSessions {
 public:
  IdleSessions() = default;
  IdleSessions(const IdleSessions&) = delete;
  IdleSessions& operator=(const IdleSessions&) = delete;
  ~IdleSessions();

  // Opens `count` more connections to 127.0.0.1:port in batches (the listen backlog is
  // finite) and reads each greeting. Returns "" on success, else what went wrong:
  // @li a greeting not starting with 220 (e.g. the proxy's 421 for too many sessions);
  // @li a connection closed or refused before its greeting;
  // @li a batch with greetings missing after 30 s.
  std::string open(std::uint16_t port, int count);
  void close_all();
  [[nodiscard]] std::size_t size() const { return fds_.size(); }

 private:
  std::vector<int> fds_;
};

}  // namespace hopscope::bench
