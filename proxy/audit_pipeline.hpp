#pragma once
// Judges and records finished sessions off the I/O threads: reads the certificates,
// verifies the chain, runs policy::evaluate, writes the audit document and logs one summary
// line. A bounded queue: a slow or full disk never stalls mail; a session that does not fit
// in the queue is counted as lost and said on stderr.
//
// Mail first: the worker runs at SCHED_IDLE, so while the CPUs are busy relaying, documents
// wait instead of taking CPU from the mail. A second worker at normal priority takes over
// when the audit falls behind (a session queued for `max_lag`, or `catch_up_sessions` /
// `catch_up_bytes` queued), so the audit log trails a saturated relay by a bounded amount
// and loses nothing to starvation.
//
// Out of file descriptors (the sessions used up `ulimit -n`) loses nothing either: the
// documents that met the shortage wait, in order, and are offered again after a pause
// (retry_pause_first, doubling up to retry_pause_max) while new sessions keep queuing within
// the same bound; only that bound, or finish() giving up after shutdown_retry_limit, loses
// them, and then they are counted and said, once, with their sessions.jsonl lines still
// appended when a descriptor frees up for the final flush (sessions.jsonl is the index).
// sessions.jsonl lines that the writer holds back for a shortage are retried on the same
// schedule, even when no session ends to carry them.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "proxy/audit_json.hpp"
#include "proxy/audit_writer.hpp"
#include "proxy/facts.hpp"

namespace hopscope {

namespace tls {
class Verifier;
}

struct FinishedSession {
  SessionFacts facts;
  std::vector<std::string> server_chain_der;  // as seen on the wire, leaf first
  std::vector<std::string> client_chain_der;
  bool server_chain_cut = false;  // the observer kept only the first certificates
  // Set by AuditPipeline::submit().
  std::chrono::steady_clock::time_point queued_at;
  std::size_t approximate_bytes = 0;
  std::uint64_t sequence = 0;  // the order of submission: documents that wait keep it
};

// What a finished session holds in memory, roughly: its variable parts (transcript,
// certificates, messages, anomalies) plus a constant for the rest. Bounds the queue.
std::size_t approximate_bytes(const FinishedSession& session);

class AuditPipeline {
 public:
  // Which workers run: both, or (tests) only the catch-up worker, as if the idle one never
  // got the CPU.
  enum class Workers { both, catch_up_only };

  // Throws std::runtime_error at startup when the trust store cannot be loaded.
  explicit AuditPipeline(std::shared_ptr<const config::Config> config,
                         Workers workers = Workers::both);
  ~AuditPipeline();
  AuditPipeline(const AuditPipeline&) = delete;
  AuditPipeline& operator=(const AuditPipeline&) = delete;
  AuditPipeline(AuditPipeline&&) = delete;
  AuditPipeline& operator=(AuditPipeline&&) = delete;

  void submit(FinishedSession session);
  // Processes what is queued, then stops the worker. Called once at shutdown.
  void finish();

  [[nodiscard]] std::uint64_t lost() const;
  // Documents waiting for descriptors to come back.
  [[nodiscard]] std::size_t waiting() const;
  // sessions.jsonl lines waiting for a descriptor (AuditWriter::summary_lines_held).
  [[nodiscard]] std::size_t summary_lines_waiting() const;

  // Pause before documents that met a descriptor shortage are offered again; it doubles at
  // each failed try up to retry_pause_max. Sessions that end free their descriptors within
  // moments, and a try costs two open(2) calls: short enough that the audit log trails the
  // shortage by little, long enough not to spin.
  static constexpr std::chrono::milliseconds retry_pause_first{200};
  static constexpr std::chrono::milliseconds retry_pause_max{2000};
  // How long finish() keeps offering waiting documents before it counts them as lost.
  static constexpr std::chrono::seconds shutdown_retry_limit{5};

 private:
  // What policy said about one session, ready to be written.
  struct Judged {
    std::vector<FindingView> findings;
    std::string verdict;
    std::string summary;  // the spdlog summary line
  };
  // A session on its way to disk; judged once, before its first try.
  struct Entry {
    FinishedSession session;
    std::optional<Judged> judged;
  };
  enum class Worker { idle, catch_up };

  void run_worker(Worker who);
  // Waits (holding `lock`) until `who` has something to write and fills `batch`; false:
  // stopping and nothing is left. `given_up`: set (to how many of `batch` waited) when the
  // batch is what shutdown gives up on, for give_up() rather than write_batch().
  bool next_batch(std::unique_lock<std::mutex>& lock, std::vector<Entry>& batch, Worker who,
                  std::optional<std::size_t>& given_up);
  // Moves up to max_batch entries into `batch`: the waiting ones first, then the queue.
  // Holds mutex_.
  void take_batch(std::vector<Entry>& batch);
  // The audit is behind: the catch-up worker writes. Holds mutex_.
  [[nodiscard]] bool behind(std::chrono::steady_clock::time_point now) const;
  // Past shutdown_retry_limit at shutdown: moves the waiting documents and the queue behind
  // them into `batch` and counts them as lost; returns how many of them waited. Holds mutex_.
  std::size_t give_up_waiting(std::vector<Entry>& batch);
  // Hands the given-up documents' summary lines to the writer (appended by the final flush)
  // and says the loss once, with the total.
  void give_up(std::vector<Entry>& batch, std::size_t waited);
  [[nodiscard]] Judged judge(FinishedSession& session) const;
  // `retry`: the batch holds the waiting documents (the catch-up worker's retry).
  void write_batch(std::vector<Entry>& batch, bool retry);

  static constexpr std::size_t max_queued = 10000;
  static constexpr std::size_t max_queued_bytes = std::size_t{512} << 20;
  // When the normal-priority worker steps in (see the top of this file).
  static constexpr std::chrono::seconds max_lag{2};
  static constexpr std::size_t catch_up_sessions = 4096;
  static constexpr std::size_t catch_up_bytes = std::size_t{64} << 20;
  // Sessions written with one durability barrier at most (AuditWriter::write_batch).
  static constexpr std::size_t max_batch = 64;
  // How long the worker lets a batch gather once a session is queued. One barrier and one
  // wake-up then serve every session that ended meanwhile, instead of one per session
  // (a fsync and a thread switch each); a document is on disk this much later, at most.
  static constexpr std::chrono::milliseconds batch_linger{20};

  std::shared_ptr<const config::Config> config_;
  std::unique_ptr<AuditWriter> writer_;
  std::unique_ptr<tls::Verifier> verifier_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;     // the idle worker waits on it
  std::condition_variable catch_up_;  // the catch-up worker waits on it
  std::deque<FinishedSession> queue_;
  // Met a descriptor shortage; in submission order. Counted in the queue's bound.
  std::deque<Entry> waiting_;
  std::size_t queued_bytes_ = 0;  // of queue_ and waiting_
  std::uint64_t next_sequence_ = 0;
  bool retrying_ = false;  // a worker has the waiting documents out: the others wait
  std::chrono::steady_clock::time_point retry_at_;
  std::chrono::milliseconds retry_pause_{0};  // 0: no shortage
  std::chrono::steady_clock::time_point shortage_since_;
  std::uint64_t waited_written_ = 0;  // documents written after waiting, this shortage
  std::chrono::steady_clock::time_point give_up_at_;  // set by finish()
  std::size_t lines_held_ = 0;  // the writer's held-back sessions.jsonl lines, last seen
  // Every 10 s while a shortage lasts, so the count said is the current one.
  ReportLimiter shortage_reports_{std::chrono::seconds(10)};
  bool stopping_ = false;
  std::uint64_t dropped_ = 0;
  std::thread worker_;
  std::thread catch_up_worker_;
};

}  // namespace hopscope
