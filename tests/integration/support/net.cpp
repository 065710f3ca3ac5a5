#include "net.hpp"

#include <cerrno>
#include <ctime>
#include <stdexcept>
#include <system_error>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace hopscope::test {

std::uint16_t free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw std::runtime_error(std::string("socket: ") + std::generic_category().message(errno));
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  // NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API takes sockaddr*
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    // NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)
    const int error = errno;
    ::close(fd);
    throw std::runtime_error(std::string("bind 127.0.0.1:0: ") +
                             std::generic_category().message(error));
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

int connect_numeric(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (::getaddrinfo(host.c_str(), service.c_str(), &hints, &found) != 0 || found == nullptr) {
    errno = EINVAL;
    return -1;
  }
  const int fd = ::socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol);
  if (fd < 0) {
    ::freeaddrinfo(found);
    return -1;
  }
  if (::connect(fd, found->ai_addr, found->ai_addrlen) != 0) {
    const int error = errno;
    ::close(fd);
    ::freeaddrinfo(found);
    errno = error;
    return -1;
  }
  ::freeaddrinfo(found);
  return fd;
}

bool wait_for_port(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const int fd = connect_numeric(host, port);
    if (fd >= 0) {
      ::close(fd);
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    const timespec step{0, 10'000'000};  // bounded retry loop: next attempt in 10 ms
    ::nanosleep(&step, nullptr);
  }
}

HostPort parse_host_port(const std::string& text) {
  std::string host;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find("]:");
    if (close == std::string::npos) {
      throw std::invalid_argument("bad [host]:port: " + text);
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) {
      throw std::invalid_argument("bad host:port: " + text);
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  const unsigned long value = std::stoul(port);
  if (value == 0 || value > 65535) {
    throw std::invalid_argument("bad port in " + text);
  }
  return {host, static_cast<std::uint16_t>(value)};
}

}  // namespace hopscope::test
