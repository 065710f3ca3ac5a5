#pragma once
// Writes one audit document per session (DESIGN.md §5) at DIR/YYYY-MM-DD/<id>.json,
// atomically: an unnamed O_TMPFILE file in the same folder (or `.<id>.json.tmp` where the
// file system has none), made durable, then linked (renamed) under its final name, the folder
// fsynced, so a crash never leaves a half-written document under its final name. Then appends the
// summary lines to DIR/sessions.jsonl (O_APPEND, one write() per batch, under a mutex).
// Group commit: write_batch() pays one durability barrier (syncfs(2)) for many documents,
// because two fsyncs per document cap a real disk at ~150 documents/s.
// A full, read-only or missing audit directory must never stop mail: write() never throws,
// counts the lost document, and says so on stderr (spdlog) at most once a minute per kind
// of error. Folders are created 0750, files 0640.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
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
  // The audit log works again: the next error of any kind is said at once, so the last
  // line an operator reads is never a stale "written again".
  void forget();

 private:
  Clock::duration interval_;
  std::mutex mutex_;
  std::map<int, Clock::time_point> last_;
};

// One document for write_batch(). Borrowed: the pointees must outlive the call. A null
// `facts` is a lost document; null `findings` / `verdict` read as empty.
struct AuditItem {
  const SessionFacts* facts = nullptr;
  const std::vector<FindingView>* findings = nullptr;
  const std::string* verdict = nullptr;
};

class AuditWriter {
 public:
  // Temp files held open at once by one durability barrier; a longer batch is committed in
  // several barriers (the relay's sockets need the descriptors more).
  static constexpr std::size_t max_open_per_barrier = 128;

  explicit AuditWriter(config::AuditConfig cfg);
  AuditWriter(config::AuditConfig cfg, std::size_t line_cap);

  // Thread-safe; sessions on several threads call it at once. Never throws.
  // @li true: the document is on disk under its final name.
  // @li false: the document is lost (counted in documents_lost(), reported on stderr).
  // A summary line that cannot be appended is counted in summary_lines_lost() only.
  // Same as write_batch() with one item (its barrier is one fdatasync(2), not syncfs).
  bool write(const SessionFacts& facts, const std::vector<FindingView>& findings,
             const std::string& verdict) noexcept;

  // Thread-safe, never throws. Writes every temp file (no fsync each), then one syncfs(2)
  // per file system touched (fdatasync per file when syncfs fails or cannot report
  // errors), renames each temp file, fsyncs each touched folder once, then appends all
  // summary lines to sessions.jsonl in one write(2). Returns how many documents are now
  // durable under their final names; each failure is counted in documents_lost() and
  // reported, the others still go through. Two items with the same id are written in
  // order, the later one wins, as with two write() calls.
  std::size_t write_batch(std::span<const AuditItem> items) noexcept;

  // Writes through named `.<id>.json.tmp` files, as on a file system without O_TMPFILE
  // (tests run both ways). Call before the first write.
  void use_named_temp_files() { anonymous_files_ = false; }

  [[nodiscard]] std::uint64_t documents_written() const { return written_.load(); }
  [[nodiscard]] std::uint64_t documents_lost() const { return lost_.load(); }
  [[nodiscard]] std::uint64_t summary_lines_lost() const { return lines_lost_.load(); }
  [[nodiscard]] const std::string& directory() const { return cfg_.directory; }

 private:
  // Writes items from `next` on (at most max_open_per_barrier, stopping before a repeated
  // id) behind one barrier; advances `next`, adds their summary lines to `lines`.
  std::size_t write_chunk(std::span<const AuditItem> items, std::size_t& next, std::string& lines,
                          std::size_t& line_count) noexcept;
  // fsyncs the audit directory and its parent the first time `folder` is used, so a date
  // folder created today (by any thread) survives a crash with the documents in it.
  int make_folder_entry_durable(const std::string& folder) noexcept;
  // Appends `lines` (`count` of them, each ending in '\n') to sessions.jsonl in one write(2).
  void append_summary(const std::string& lines, std::size_t count) noexcept;
  void lose(int error, std::string_view step, std::string_view path) noexcept;
  void start_failing() noexcept;
  void report(int error, const std::string& what) noexcept;

  config::AuditConfig cfg_;
  AuditOptions options_;
  // syncfs(2) reports write-back errors only since Linux 5.8; before, it always says 0.
  bool syncfs_reports_errors_ = false;
  // O_TMPFILE works here (turned off at the first file system that refuses it).
  std::atomic<bool> anonymous_files_{false};
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> lost_{0};
  std::atomic<std::uint64_t> lines_lost_{0};
  // Something was lost since the audit log last worked: the first whole batch written after
  // it says so on stderr, so the per-minute error lines are not the last word.
  std::atomic<bool> failing_{false};
  std::mutex jsonl_mutex_;
  std::mutex folders_mutex_;
  std::set<std::string> durable_folders_;           // guarded by folders_mutex_
  ReportLimiter limiter_{std::chrono::minutes(1)};  // issue 4 item 5: "once per minute"
};

}  // namespace hopscope
