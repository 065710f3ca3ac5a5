#pragma once
// Judges and records finished sessions off the I/O threads: reads the certificates,
// verifies the chain, runs policy::evaluate, writes the audit document and logs one summary
// line. One worker thread with a bounded queue: a slow or full disk never stalls mail; a
// session that does not fit in the queue is counted as lost and said on stderr.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
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
  void run();
  void process(FinishedSession& session);

  static constexpr std::size_t max_queued = 10000;

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
