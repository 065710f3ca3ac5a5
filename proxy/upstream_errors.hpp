#pragma once
// Which failures to reach upstream are hopscope's own machine running short (descriptors,
// socket memory, local ports) rather than upstream being unreachable. Pure: no sockets, no
// logging; it reads getrlimit(2) only to say the descriptor limit. The session decides what
// to do with the answer (a 421 4.3.2 and end.reason "limit" instead of "421 4.4.0 upstream
// unreachable" and a finding that blames upstream).

#include <cstddef>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace hopscope {

// hopscope's own limit, not upstream's: what the sender is told and what end.detail says.
struct Shortage {
  std::string said;    // "out of file descriptors (limit 256)": goes into the 421 line
  std::string detail;  // end.detail: the step that failed, the system's message, the remedy
};

// `error_number` is an errno value (system category) from socket(2), getaddrinfo(3)'s
// EAI_SYSTEM or connect(2); `what` names the step that needed it ("opening a socket to
// upstream mx.example:25"). nullopt when the error is not a shortage on this host:
//   EMFILE, ENFILE       no descriptor left (process limit, system file table);
//   ENOBUFS, ENOMEM      no kernel memory for a socket;
//   EADDRNOTAVAIL        connect(2) found no local port free in net.ipv4.ip_local_port_range
//                        (exhausted by many connections, often in TIME_WAIT), or, for IPv6, no
//                        local source address to reach that destination. We never bind(2),
//                        so it cannot mean a bad local address in our configuration, and an
//                        unreachable destination is ENETUNREACH/EHOSTUNREACH instead.
[[nodiscard]] std::optional<Shortage> resource_shortage(int error_number, const std::string& what);

// One address of a host name tried and failed (a name may resolve to several; each is tried
// in turn until one connects).
struct ConnectAttempt {
  std::string endpoint;  // "192.0.2.7:25", "[2001:db8::25]:25"
  int error_number = 0;  // errno (system category); 0 for any other error (Asio's own)
  std::string message;   // the error's text: "Connection refused"
};

// Every address of `target` ("mx.contoso.test:25") failed: is that hopscope's shortage
// (Shortage) or upstream unreachable (the connect_error text)? A shortage only when every
// address failed for one: if one was refused, unreachable or timed out, upstream was tried
// and failed, whatever the others said. The shortage is the last address's, as when one
// address is tried. The connect_error names each address and its error when there are
// several ("connect to mx.contoso.test:25: 192.0.2.7:25: Connection refused; 192.0.2.8:25:
// Cannot assign requested address"), else "connect to mx.contoso.test:25: Connection
// refused". `attempts` is not empty.
[[nodiscard]] std::variant<Shortage, std::string> classify_connect_failure(
    const std::vector<ConnectAttempt>& attempts, const std::string& target);

// The longest connect_error connect_timeout_text builds when there is something to list: the
// 421 line adds 62 bytes ("421 4.4.0 hopscope: upstream unreachable (", "); try again
// later\r\n"), which keeps it within RFC 5321 §4.5.3.1.5's 512 bytes with room to spare.
inline constexpr std::size_t max_connect_timeout_text = 400;
// At most this many failed addresses are named; the rest are counted.
inline constexpr std::size_t max_listed_failures = 4;

// The deadline (timeouts.connect) passed while the addresses of `target` ("mx.contoso.test:25")
// were tried in turn: `failed` are those that failed before it, in the order tried; `pending`
// the one still being tried when it passed ("192.0.2.8:25"; nullopt if none had started);
// `timeout` the deadline as said ("30s"). With no earlier failure the text is the one-address
// text "connect to mx.contoso.test:25 timed out after 30s" (the pending address is not named:
// with one address it is the target). Otherwise it names each failure and the address that
// never answered: "connect to mx.contoso.test:25 timed out after 30s: 192.0.2.7:25: Connection
// refused; 192.0.2.8:25: no answer". At most max_listed_failures failures are named, the first
// ones, as long as the text stays within max_connect_timeout_text; the others are counted
// ("; 5 more addresses failed") before the pending one, which is always named. Only a target
// longer than a host name can be (RFC 1035 §2.3.4: 253 bytes as text) makes it longer.
[[nodiscard]] std::string connect_timeout_text(const std::vector<ConnectAttempt>& failed,
                                               const std::optional<std::string>& pending,
                                               const std::string& target,
                                               const std::string& timeout);

}  // namespace hopscope
