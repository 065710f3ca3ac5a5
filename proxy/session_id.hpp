#pragma once
// Session ids for audit documents (DESIGN.md §5): "20261122T174500Z-4f2a91-000123" —
// the session's UTC start time, a random part drawn once per generator (one per process)
// so that a restart never reuses an id, and a process-wide counter. Never does I/O beyond
// reading std::random_device once in the constructor.

#include <cstdint>
#include <string>

namespace hopscope {

class SessionIdGenerator {
 public:
  // Draws 24 random bits from std::random_device.
  SessionIdGenerator();

  // Thread-safe: the counter is atomic. `started_unix_ms` gives the time part (UTC, seconds).
  [[nodiscard]] std::string next(std::int64_t started_unix_ms);

  // The 6 lower-case hex digits shared by every id of this generator.
  [[nodiscard]] const std::string& random_part() const { return random_part_; }

 private:
  std::string random_part_;
};

// "YYYYMMDDTHHMMSSZ" for a Unix time in milliseconds (UTC).
std::string compact_utc_timestamp(std::int64_t unix_ms);

}  // namespace hopscope
