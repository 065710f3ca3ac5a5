#include "proxy/upstream_errors.hpp"

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <utility>

#include <sys/resource.h>

namespace hopscope {

std::optional<Shortage> resource_shortage(int error_number, const std::string& what) {
  std::string said;
  // Descriptors and memory: the operator raises the limit or lowers max_sessions.
  std::string remedy = "raise LimitNOFILE or ulimit -n, or lower relay.max_sessions";
  switch (error_number) {
    case EMFILE: {
      rlimit limit{};
      said = "out of file descriptors";
      if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
        said += " (limit " + std::to_string(limit.rlim_cur) + ")";
      }
      break;
    }
    case ENFILE:
      said = "out of file descriptors (the system's file table is full)";
      break;
    case ENOBUFS:
    case ENOMEM:
      said = "out of memory for sockets";
      break;
    case EADDRNOTAVAIL:
      // connect(2): no ephemeral port left (connect(2), ip(7) ip_local_port_range); no SYN
      // was sent. For IPv6 the same error says no source address could be chosen: the text
      // names both.
      said = "no local address or port free to reach upstream";
      remedy =
          "every port of net.ipv4.ip_local_port_range is in use, often by connections in "
          "TIME_WAIT: see net.ipv4.ip_local_port_range and ss -s; for an IPv6 upstream, check "
          "that this host has an IPv6 address to reach it from";
      break;
    default:
      return std::nullopt;
  }
  auto detail = said + ": " + what + " failed (" + std::system_category().message(error_number) +
                "); upstream was not tried (" + remedy + ")";
  return Shortage{std::move(said), std::move(detail)};
}

std::variant<Shortage, std::string> classify_connect_failure(
    const std::vector<ConnectAttempt>& attempts, const std::string& target) {
  if (attempts.empty()) {
    return "connect to " + target + ": no address to try";
  }
  const auto shortage_only = std::all_of(attempts.begin(), attempts.end(), [](const auto& a) {
    return resource_shortage(a.error_number, {}).has_value();
  });
  if (shortage_only) {
    // socket(2) fails for want of descriptors or memory; connect(2) for want of a local port
    // (EADDRNOTAVAIL): name the step that failed.
    const auto& last = attempts.back();
    const std::string step = last.error_number == EADDRNOTAVAIL ? "connecting to upstream "
                                                                : "opening a socket to upstream ";
    if (auto shortage = resource_shortage(last.error_number, step + target)) {
      return std::move(*shortage);
    }
  }
  std::string error = "connect to " + target + ": ";
  if (attempts.size() == 1) {
    return error + attempts.front().message;
  }
  for (const auto& a : attempts) {
    if (&a != &attempts.front()) {
      error += "; ";
    }
    error += a.endpoint + ": " + a.message;
  }
  return error;
}

std::string connect_timeout_text(const std::vector<ConnectAttempt>& failed,
                                 const std::optional<std::string>& pending,
                                 const std::string& target, const std::string& timeout) {
  std::string text = "connect to " + target + " timed out after " + timeout;
  if (failed.empty()) {
    return text;  // one address, or the first never answered: as it always read
  }
  // What closes the text, kept in reserve while the failures are named: the count of those
  // left out (at most "; 99999 more addresses failed") and the pending address.
  const std::string tail = pending ? "; " + *pending + ": no answer" : std::string();
  constexpr std::size_t count_room = 32;
  const auto budget = max_connect_timeout_text > tail.size() + count_room
                          ? max_connect_timeout_text - tail.size() - count_room
                          : std::size_t{0};
  text += ": ";
  std::size_t listed = 0;
  for (const auto& a : failed) {
    std::string entry = (listed == 0 ? "" : "; ") + a.endpoint + ": " + a.message;
    const bool last = listed + 1 == failed.size();
    // The last one needs no room for a count after it.
    const auto room = last ? budget + count_room : budget;
    if (listed == max_listed_failures || text.size() + entry.size() > room) {
      break;
    }
    text += entry;
    ++listed;
  }
  if (const auto more = failed.size() - listed; more > 0) {
    text += (listed == 0 ? "" : "; ") + std::to_string(more) + (listed == 0 ? "" : " more") +
            (more == 1 ? " address failed" : " addresses failed");
  }
  return text + tail;
}

}  // namespace hopscope
