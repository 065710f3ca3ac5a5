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

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "proxy/audit_json.hpp"
#include "proxy/facts.hpp"

namespace hopscope {

class AuditWriter;
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

 private:
  // What policy said about one session, ready to be written.
  struct Judged {
    std::vector<FindingView> findings;
    std::string verdict;
    std::string summary;  // the spdlog summary line
  };

  void run_idle_worker();
  void run_catch_up_worker();
  // Moves up to max_batch sessions from the queue into `batch`. Holds mutex_.
  void take_batch(std::vector<FinishedSession>& batch);
  // The audit is behind: the catch-up worker writes. Holds mutex_.
  [[nodiscard]] bool behind(std::chrono::steady_clock::time_point now) const;
  [[nodiscard]] Judged judge(FinishedSession& session) const;
  void write_batch(std::vector<FinishedSession>& batch);

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
  std::size_t queued_bytes_ = 0;
  bool stopping_ = false;
  std::uint64_t dropped_ = 0;
  std::thread worker_;
  std::thread catch_up_worker_;
};

}  // namespace hopscope
