#pragma once
// Writes one audit document per session (DESIGN.md §5) at DIR/YYYY-MM-DD/<id>.json,
// atomically: `.<id>.json.tmp` in the same folder, fsync, rename, fsync the folder, so a
// crash never leaves a half-written document. Then appends one summary line to
// DIR/sessions.jsonl (O_APPEND, one write() per line, under a mutex).
// A full, read-only or missing audit directory must never stop mail: write() never throws,
// counts the lost document, and says so on stderr (spdlog) at most once a minute per kind
// of error. Folders are created 0750, files 0640.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "proxy/audit_json.hpp"
#include "proxy/facts.hpp"

namespace hopscope {

// Allows one report per kind of error (an errno) per interval, so a full disk is said on
// stderr once a minute rather than once per session. Thread-safe.
class ReportLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit ReportLimiter(Clock::duration interval) : interval_(interval) {}
  // true: say it now (and start a new interval for `kind`); false: stay quiet.
  bool allow(int kind, Clock::time_point now);

 private:
  Clock::duration interval_;
  std::mutex mutex_;
  std::map<int, Clock::time_point> last_;
};

class AuditWriter {
 public:
  explicit AuditWriter(config::AuditConfig cfg);
  AuditWriter(config::AuditConfig cfg, std::size_t line_cap);

  // Thread-safe; sessions on several threads call it at once. Never throws.
  // @li true: the document is on disk under its final name.
  // @li false: the document is lost (counted in documents_lost(), reported on stderr).
  // A summary line that cannot be appended is counted in summary_lines_lost() only.
  bool write(const SessionFacts& facts, const std::vector<FindingView>& findings,
             const std::string& verdict) noexcept;

  [[nodiscard]] std::uint64_t documents_written() const { return written_.load(); }
  [[nodiscard]] std::uint64_t documents_lost() const { return lost_.load(); }
  [[nodiscard]] std::uint64_t summary_lines_lost() const { return lines_lost_.load(); }
  [[nodiscard]] const std::string& directory() const { return cfg_.directory; }

 private:
  // Returns 0 or the errno of the first failure; `what` names the step and path.
  int write_document(const std::string& folder, const std::string& name, const std::string& body,
                     std::string& what) const;
  int append_summary(const std::string& line, std::string& what);
  void report(int error, const std::string& what) noexcept;

  config::AuditConfig cfg_;
  AuditOptions options_;
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> lost_{0};
  std::atomic<std::uint64_t> lines_lost_{0};
  std::mutex jsonl_mutex_;
  ReportLimiter limiter_{std::chrono::minutes(1)};  // issue 4 item 5: "once per minute"
};

}  // namespace hopscope
