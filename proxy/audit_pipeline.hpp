#pragma once
// Judges and records finished sessions off the I/O threads: reads the certificates,
// verifies the chain, runs policy::evaluate, writes the audit document and logs one summary
// line. One worker thread with a bounded queue: a slow or full disk never stalls mail; a
// session that does not fit in the queue is counted as lost and said on stderr.

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
};

class AuditPipeline {
 public:
  // Throws std::runtime_error at startup when the trust store cannot be loaded.
  explicit AuditPipeline(std::shared_ptr<const config::Config> config);
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

  void run();
  [[nodiscard]] Judged judge(FinishedSession& session) const;
  void write_batch(std::vector<FinishedSession>& batch);

  static constexpr std::size_t max_queued = 10000;
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
  std::condition_variable ready_;
  std::deque<FinishedSession> queue_;
  bool stopping_ = false;
  std::uint64_t dropped_ = 0;
  std::thread worker_;
};

}  // namespace hopscope
