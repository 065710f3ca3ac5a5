// A scripted SMTP upstream on 127.0.0.1 for integration tests: emulates what real servers and
// middle boxes say on the wire (an ESMTP-inspecting firewall, a MailGuard, a server that hangs
// up mid-DATA). Test support only: it accepts one session, runs the script, and closes.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <utility>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace hopscope::test {

// One accepted connection of a scripted upstream: line reads with a timeout, raw writes.
class ScriptedConnection {
 public:
  explicit ScriptedConnection(int fd) : fd_(fd) {
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void say(const std::string& s) const { (void)!::write(fd_, s.data(), s.size()); }
  // The close that ends the script becomes a reset (RST) instead of an orderly FIN:
  // SO_LINGER with a zero timeout (socket(7)).
  void reset_on_close() const {
    const linger abort{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
  }
  // Each write goes out at once (TCP_NODELAY): a reply said just before a reset is on the
  // wire, not held by Nagle behind unacknowledged data and discarded by the reset.
  void no_delay() const {
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  // Closes now (idempotent): the script can act after its close is on the wire.
  void close() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  // The next line without CRLF, or "<eof>".
  std::string read_line() {
    for (;;) {
      const auto eol = in_.find("\r\n");
      if (eol != std::string::npos) {
        auto line = in_.substr(0, eol);
        in_.erase(0, eol + 2);
        return line;
      }
      std::array<char, 4096> buf{};
      const auto n = ::read(fd_, buf.data(), buf.size());
      if (n <= 0) {
        return "<eof>";
      }
      in_.append(buf.data(), static_cast<std::size_t>(n));
    }
  }
  // Reads DATA content up to and including the final "." line.
  void read_until_final_dot() {
    for (auto line = read_line(); line != "." && line != "<eof>"; line = read_line()) {
    }
  }

 private:
  int fd_;
  std::string in_;
};

// An upstream on 127.0.0.1 that runs `script` for the one session it accepts, then closes.
class ScriptedUpstream {
 public:
  explicit ScriptedUpstream(std::function<void(ScriptedConnection&)> script)
      : script_(std::move(script)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(listener_, reinterpret_cast<sockaddr*>(&a), len);
    ::listen(listener_, 4);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) {
        return;
      }
      ScriptedConnection connection(fd);
      script_(connection);
      connection.close();
    });
  }
  ~ScriptedUpstream() {
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    thread_.join();
  }
  ScriptedUpstream(const ScriptedUpstream&) = delete;
  ScriptedUpstream& operator=(const ScriptedUpstream&) = delete;
  ScriptedUpstream(ScriptedUpstream&&) = delete;
  ScriptedUpstream& operator=(ScriptedUpstream&&) = delete;
  [[nodiscard]] std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  std::function<void(ScriptedConnection&)> script_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

// Greets, accepts EHLO, MAIL, RCPT and DATA like any server (one command per read).
inline void accept_envelope(ScriptedConnection& c) {
  c.say("220 scripted ESMTP\r\n");
  c.read_line();
  c.say("250-scripted\r\n250 8BITMIME\r\n");
  c.read_line();
  c.say("250 2.1.0 ok\r\n");
  c.read_line();
  c.say("250 2.1.5 ok\r\n");
  c.read_line();
  c.say("354 go ahead\r\n");
}

}  // namespace hopscope::test
