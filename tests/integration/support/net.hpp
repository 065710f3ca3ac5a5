// Loopback networking helpers for integration tests: pick a free port, wait for a listener.
// Test support only. Never touches anything but 127.0.0.1 / ::1.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace hopscope::test {

// Binds port 0 on 127.0.0.1, reads the port the kernel chose, closes the socket.
// Known limitation: another process may take the port before the caller binds it; only for
// servers that cannot take an already-bound socket (Postfix). Tests using it hold the CTest
// RESOURCE_LOCK "postfix" so that our own tests do not race each other.
// Throws std::runtime_error if no port can be bound.
[[nodiscard]] std::uint16_t free_loopback_port();

// Connects to host:port (numeric address) until a connection succeeds or `timeout` passes.
// A bounded retry loop (a connect attempt every 10 ms), not a sleep: returns as soon as the
// listener accepts. Returns false on timeout.
[[nodiscard]] bool wait_for_port(const std::string& host, std::uint16_t port,
                                 std::chrono::milliseconds timeout);

// Connects a blocking TCP socket to a numeric host (IPv4 or IPv6) and port.
// Returns the fd, or -1 with errno set.
[[nodiscard]] int connect_numeric(const std::string& host, std::uint16_t port);

// Splits "127.0.0.1:25" or "[::1]:25" into host and port. Throws std::invalid_argument.
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};
[[nodiscard]] HostPort parse_host_port(const std::string& text);

}  // namespace hopscope::test
