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
// Out of descriptors (EMFILE, ENFILE) or kernel memory (ENOMEM) is transient, unlike a full
// or read-only disk: write_batch() with outcomes hands such documents back as deferred, for
// the caller to offer again, instead of losing them. Two descriptors of /dev/null are held in
// reserve and released at a shortage: a document needs two at once (its folder and its file;
// linking it through /proc/self/fd and fsyncing the folder need none more, the folder's
// parents and sessions.jsonl one each after the file is closed), so one document still goes
// through while the I/O threads hold every other descriptor. A sessions.jsonl line that finds
// no descriptor (even with the reserve released) waits in memory, the oldest first up to
// max_unsent_line_bytes (the excess is lost), for the next batch or retry_summary_lines().

#include <array>
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

// What became of one document of write_batch(items, outcomes).
enum class AuditOutcome : std::uint8_t {
  written,   // durable under its final name
  lost,      // counted in documents_lost()
  deferred,  // a shortage of descriptors or memory: offer it again later
};

// EMFILE, ENFILE, ENOMEM: the system lacks something that comes back (sessions end and free
// their descriptors), unlike ENOSPC, EROFS or EACCES, which wait for an operator.
bool is_transient_shortage(int error);

class AuditWriter {
 public:
  // Temp files held open at once by one durability barrier; a longer batch is committed in
  // several barriers (the relay's sockets need the descriptors more).
  static constexpr std::size_t max_open_per_barrier = 128;
  // Descriptors held in reserve for a shortage: what one document needs at once.
  static constexpr std::size_t reserve_descriptors = 2;
  // sessions.jsonl lines kept in memory while a shortage stops their append; beyond this
  // they are counted in summary_lines_lost().
  static constexpr std::size_t max_unsent_line_bytes = std::size_t{4} << 20;

  explicit AuditWriter(config::AuditConfig cfg);
  AuditWriter(config::AuditConfig cfg, std::size_t line_cap);
  ~AuditWriter();
  AuditWriter(const AuditWriter&) = delete;
  AuditWriter& operator=(const AuditWriter&) = delete;
  AuditWriter(AuditWriter&&) = delete;
  AuditWriter& operator=(AuditWriter&&) = delete;

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
  // A document that meets a descriptor shortage here is lost, as nobody offers it again.
  std::size_t write_batch(std::span<const AuditItem> items) noexcept;

  // Same, but a document that meets a transient shortage (is_transient_shortage) even after
  // the reserve is released is neither written nor lost: outcomes[i] says `deferred`, it is
  // not counted, its summary line is not appended, and the caller offers it again later
  // (once no descriptor is left even with the reserve, the rest of the batch is deferred
  // untried). `outcomes` has items.size() elements. Returns the shortage's errno, or 0 when
  // nothing was deferred.
  int write_batch(std::span<const AuditItem> items, std::span<AuditOutcome> outcomes) noexcept;

  // sessions.jsonl lines that a shortage holds back now (each is appended before any newer
  // line, at the next batch or retry). A caller that retries documents retries these too:
  // an idle relay writes no batch that would carry them.
  [[nodiscard]] std::size_t summary_lines_held() noexcept;

  // Tries once more to append the held-back lines (the reserve released for it). Returns how
  // many are still held.
  std::size_t retry_summary_lines() noexcept;

  // Holds the summary lines of documents the caller gives up on (still short of descriptors
  // at shutdown): sessions.jsonl is the index, it lists lost documents too. They are appended
  // with the held-back lines, by the next batch, retry or flush_summary_lines(); beyond the
  // bound they are counted in summary_lines_lost().
  void hold_summary_lines(std::span<const AuditItem> items) noexcept;

  // Appends the sessions.jsonl lines that a shortage held back; those that still cannot be
  // appended are counted in summary_lines_lost(). Called once at shutdown.
  void flush_summary_lines() noexcept;

  // Lowers the bound on held-back lines (tests; max_unsent_line_bytes otherwise).
  void limit_unsent_line_bytes(std::size_t bytes) noexcept;

  // Writes through named `.<id>.json.tmp` files, as on a file system without O_TMPFILE
  // (tests run both ways). Call before the first write.
  void use_named_temp_files() { anonymous_files_ = false; }

  [[nodiscard]] std::uint64_t documents_written() const { return written_.load(); }
  [[nodiscard]] std::uint64_t documents_lost() const { return lost_.load(); }
  [[nodiscard]] std::uint64_t summary_lines_lost() const { return lines_lost_.load(); }
  // Reserve descriptors held now (tests).
  [[nodiscard]] std::size_t reserve_held() noexcept;
  [[nodiscard]] const std::string& directory() const { return cfg_.directory; }

 private:
  // Writes items from `next` on (at most max_open_per_barrier, stopping before a repeated
  // id, or before a document that finds no descriptor while others wait for the barrier)
  // behind one barrier; advances `next`, adds their summary lines to `lines`. A document
  // that finds no descriptor with none pending sets `shortage` and stops the chunk before
  // it (`next` stays there); one whose folder cannot be made durable for a shortage is
  // marked deferred in `outcomes` (when not empty) and sets `shortage` too.
  std::size_t write_chunk(std::span<const AuditItem> items, std::span<AuditOutcome> outcomes,
                          std::size_t& next, std::string& lines, std::size_t& line_count,
                          int& shortage) noexcept;
  std::size_t write_items(std::span<const AuditItem> items, std::span<AuditOutcome> outcomes,
                          int& shortage) noexcept;
  // Opens the missing reserve descriptors; says once on stderr when it cannot. Holds
  // reserve_mutex_.
  void take_reserve() noexcept;
  // Closes the reserve descriptors: their numbers are free for the next open. Holds
  // reserve_mutex_.
  void release_reserve() noexcept;
  // fsyncs the audit directory and its parent the first time `folder` is used, so a date
  // folder created today (by any thread) survives a crash with the documents in it.
  int make_folder_entry_durable(const std::string& folder) noexcept;
  // Appends the held-back lines, then `lines` (`count` of them, each ending in '\n'), to
  // sessions.jsonl in one write(2). At a descriptor shortage it releases the reserve and tries
  // once more: `reserve_locked` says the caller holds reserve_mutex_; otherwise it takes it
  // only if free (it holds jsonl_mutex_, taken after reserve_mutex_ elsewhere). Lines that
  // still cannot go out wait, the oldest first, up to the bound; the rest are lost.
  void append_summary(const std::string& lines, std::size_t count, bool reserve_locked) noexcept;
  // Holds `text` (`count` lines) after the held-back lines, within the bound; returns how many
  // lines did not fit. Holds jsonl_mutex_.
  std::size_t hold_lines(std::string_view text, std::size_t count);
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
  std::set<std::string> durable_folders_;  // guarded by folders_mutex_
  std::string unsent_lines_;               // guarded by jsonl_mutex_: held back by a shortage
  std::size_t unsent_count_ = 0;           // guarded by jsonl_mutex_
  std::size_t unsent_cap_ = max_unsent_line_bytes;  // guarded by jsonl_mutex_
  int unsent_error_ = 0;  // guarded by jsonl_mutex_: why the held lines last failed
  std::mutex reserve_mutex_;
  std::array<int, reserve_descriptors> reserve_{-1, -1};  // guarded by reserve_mutex_
  bool reserve_warned_ = false;                           // guarded by reserve_mutex_
  ReportLimiter reserve_reports_{std::chrono::minutes(1)};
  ReportLimiter limiter_{std::chrono::minutes(1)};  // issue 4 item 5: "once per minute"
};

}  // namespace hopscope
