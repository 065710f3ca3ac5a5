#include "proxy/audit_pipeline.hpp"

#include <chrono>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include <spdlog/spdlog.h>

#include "policy/evaluate.hpp"
#include "policy/finding.hpp"
#include "policy/verdict.hpp"
#include "proxy/audit_json.hpp"
#include "proxy/audit_writer.hpp"
#include "proxy/printable.hpp"
#include "tls/certificate_reader.hpp"
#include "tls/verify.hpp"
#include <pthread.h>
#include <sched.h>

namespace hopscope {
namespace {

// How often a full queue is reported on stderr.
constexpr auto overflow_report_interval = std::chrono::minutes(1);

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<FindingView> to_views(const std::vector<policy::Finding>& findings) {
  std::vector<FindingView> views;
  views.reserve(findings.size());
  for (const auto& f : findings) {
    views.push_back(FindingView{std::string(policy::to_string(f.id)),
                                std::string(policy::to_string(f.severity)), f.leg, f.summary,
                                f.evidence, f.remedy});
  }
  return views;
}

std::string summary_line(const SessionFacts& facts, const std::vector<policy::Finding>& findings,
                         const std::string& verdict) {
  std::string ids;
  for (const auto& f : findings) {
    ids += ids.empty() ? "" : ",";
    ids += policy::to_string(f.id);
  }
  const auto& up = facts.upstream;
  std::string tls = "none";
  if (up.tls && up.tls->version) {
    tls = *up.tls->version;
  }
  return "session " + facts.id + " " + facts.downstream.peer + " -> " + up.address +
         " starttls offered=" + (up.starttls.offered ? "yes" : "no") +
         " used=" + (starttls_used(up.starttls) ? "yes" : "no") + " tls=" + tls +
         " end=" + to_string(facts.end.reason) + " findings=[" + ids +
         "] verdict: " + printable_escaped(verdict, 300);  // policy escaped it
}

// SCHED_IDLE (Linux 2.6.23): runs only when no other thread wants the CPU. Unprivileged,
// and one-way for an unprivileged thread, hence a second worker for catching up rather
// than switching this one back.
void lower_to_idle_priority() {
  sched_param param{};
  if (const int error = pthread_setschedparam(pthread_self(), SCHED_IDLE, &param); error != 0) {
    spdlog::debug("audit worker stays at normal priority: {}",
                  std::system_category().message(error));
  }
}

}  // namespace

std::size_t approximate_bytes(const FinishedSession& session) {
  constexpr std::size_t fixed = 4096;  // the fixed fields, EHLO replies, TLS facts
  constexpr std::size_t per_entry = 64;
  const auto& facts = session.facts;
  std::size_t bytes = fixed;
  for (const auto& entry : facts.transcript) {
    bytes += per_entry + entry.line.size();
  }
  for (const auto& helo : facts.downstream.helo_commands) {
    bytes += per_entry + helo.size();
  }
  for (const auto& message : facts.messages) {
    bytes += sizeof(MessageFacts) + message.mail_from.size();
    for (const auto& rcpt : message.rcpt_to) {
      bytes += per_entry + rcpt.size();
    }
    if (message.reply) {
      for (const auto& line : message.reply->lines) {
        bytes += per_entry + line.size();
      }
    }
  }
  for (const auto& anomaly : facts.anomalies) {
    bytes += per_entry + anomaly.kind.size() + anomaly.detail.size();
  }
  for (const auto* chain : {&session.server_chain_der, &session.client_chain_der}) {
    for (const auto& der : *chain) {
      bytes += per_entry + der.size();
    }
  }
  return bytes;
}

AuditPipeline::AuditPipeline(std::shared_ptr<const config::Config> config, Workers workers)
    : config_(std::move(config)), writer_(std::make_unique<AuditWriter>(config_->audit)) {
  std::string error;
  auto verifier = tls::Verifier::load(config_->tls.trust, &error);
  if (!verifier) {
    throw std::runtime_error("tls.trust = \"" + config_->tls.trust + "\": " + error);
  }
  verifier_ = std::make_unique<tls::Verifier>(std::move(*verifier));
  if (workers == Workers::both) {
    worker_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "hopscope-audit");  // for top -H and perf
      lower_to_idle_priority();
      run_idle_worker();
    });
  }
  catch_up_worker_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "hopscope-audit+");
    run_catch_up_worker();
  });
}

AuditPipeline::~AuditPipeline() {
  finish();
}

void AuditPipeline::submit(FinishedSession session) {
  const auto now = std::chrono::steady_clock::now();
  session.queued_at = now;
  session.approximate_bytes = approximate_bytes(session);
  std::size_t waiting = 0;
  std::size_t waiting_bytes = 0;
  {
    const std::lock_guard lock(mutex_);
    if (!stopping_ && queue_.size() < max_queued &&
        queued_bytes_ + session.approximate_bytes <= max_queued_bytes) {
      const bool was_behind = behind(now);
      queued_bytes_ += session.approximate_bytes;
      queue_.push_back(std::move(session));
      // The idle worker waits for a first session, then for a full batch or the linger;
      // the catch-up worker for a first session (to time its lag) or for falling behind.
      // Wake them only at those points, not once per session.
      if (queue_.size() == 1 || queue_.size() == max_batch) {
        ready_.notify_one();
      }
      if (queue_.size() == 1 || (!was_behind && behind(now))) {
        catch_up_.notify_one();
      }
      return;
    }
    ++dropped_;
    waiting = queue_.size();
    waiting_bytes = queued_bytes_;
  }
  static std::atomic<std::int64_t> last_report{0};
  const auto report_now = std::chrono::steady_clock::now().time_since_epoch().count();
  const auto interval =
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(overflow_report_interval)
          .count();
  auto last = last_report.load();
  if (report_now - last >= interval && last_report.compare_exchange_strong(last, report_now)) {
    spdlog::error(
        "audit queue full ({} sessions, {} MiB waiting; the limits are {} sessions and {} MiB): "
        "{} session documents lost so far; mail keeps flowing",
        waiting, waiting_bytes >> 20U, max_queued, max_queued_bytes >> 20U, lost());
  }
}

void AuditPipeline::finish() {
  {
    const std::lock_guard lock(mutex_);
    if (stopping_ && !worker_.joinable()) {
      return;
    }
    stopping_ = true;
    ready_.notify_all();
    catch_up_.notify_all();
  }
  if (worker_.joinable()) {
    worker_.join();
  }
  if (catch_up_worker_.joinable()) {
    catch_up_worker_.join();
  }
}

std::uint64_t AuditPipeline::lost() const {
  const std::lock_guard lock(mutex_);
  return dropped_ + writer_->documents_lost();
}

void AuditPipeline::take_batch(std::vector<FinishedSession>& batch) {
  // Whatever has queued up meanwhile goes out with one durability barrier (group commit).
  while (!queue_.empty() && batch.size() < max_batch) {
    queued_bytes_ -= queue_.front().approximate_bytes;
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
}

bool AuditPipeline::behind(std::chrono::steady_clock::time_point now) const {
  return queue_.size() >= catch_up_sessions || queued_bytes_ >= catch_up_bytes ||
         (!queue_.empty() && now - queue_.front().queued_at >= max_lag);
}

void AuditPipeline::run_idle_worker() {
  std::vector<FinishedSession> batch;
  for (;;) {
    batch.clear();
    {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      ready_.wait_for(lock, batch_linger,
                      [this] { return stopping_ || queue_.size() >= max_batch; });
      if (queue_.empty()) {
        if (stopping_) {
          return;
        }
        continue;  // the catch-up worker took them
      }
      take_batch(batch);
    }
    write_batch(batch);
  }
}

void AuditPipeline::run_catch_up_worker() {
  std::vector<FinishedSession> batch;
  for (;;) {
    batch.clear();
    {
      std::unique_lock lock(mutex_);
      for (;;) {
        const auto now = std::chrono::steady_clock::now();
        if (stopping_ || behind(now)) {
          break;
        }
        if (queue_.empty()) {
          catch_up_.wait(lock);
        } else {
          catch_up_.wait_until(lock, queue_.front().queued_at + max_lag);
        }
      }
      if (queue_.empty()) {
        return;  // stopping, and nothing left
      }
      take_batch(batch);
    }
    write_batch(batch);
  }
}

AuditPipeline::Judged AuditPipeline::judge(FinishedSession& session) const {
  auto& facts = session.facts;
  const auto now = unix_now();
  if (facts.upstream.tls) {
    auto& tls = *facts.upstream.tls;
    tls.server_certificates = tls::read_chain(session.server_chain_der);
    tls.client_certificates = tls::read_chain(session.client_chain_der);
    if (!session.server_chain_der.empty()) {
      tls.verification =
          verifier_->verify(session.server_chain_der, config_->policy.expected_server_names, now,
                            session.server_chain_cut);
    }
  }
  const HopResults hops;  // TODO(hopscope): hop probes fill this (DESIGN.md §1 [[hops]]).
  std::vector<policy::Finding> findings;
  if (!facts.own_probe) {
    findings = policy::evaluate(facts, hops, config_->policy, now);
  }
  Judged judged;
  judged.verdict = policy::verdict(facts, findings);
  judged.summary = summary_line(facts, findings, judged.verdict);
  judged.findings = to_views(findings);
  return judged;
}

void AuditPipeline::write_batch(std::vector<FinishedSession>& batch) {
  // An exception escaping a worker thread would call std::terminate and stop the mail: a
  // session that cannot be judged or written is counted as lost and said on stderr instead.
  std::uint64_t failed = 0;
  try {
    std::vector<Judged> judged;
    std::vector<std::size_t> of_session;  // judged[k] belongs to batch[of_session[k]]
    judged.reserve(batch.size());
    of_session.reserve(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
      try {
        judged.push_back(judge(batch[i]));
        of_session.push_back(i);
      } catch (const std::exception& e) {
        ++failed;
        spdlog::error("audit: session {}: {}; its document is lost", batch[i].facts.id, e.what());
      } catch (...) {
        ++failed;
        spdlog::error("audit: session {}: unknown error; its document is lost", batch[i].facts.id);
      }
    }
    std::vector<AuditItem> items;
    items.reserve(judged.size());
    for (std::size_t k = 0; k < judged.size(); ++k) {
      items.push_back(
          AuditItem{&batch[of_session[k]].facts, &judged[k].findings, &judged[k].verdict});
    }
    writer_->write_batch(items);  // noexcept: counts what it cannot write itself
    for (const auto& j : judged) {
      spdlog::info("{}", j.summary);  // spdlog reports its own errors; never throws
    }
  } catch (const std::exception& e) {
    failed = batch.size();
    spdlog::error("audit: {} documents lost: {}", batch.size(), e.what());
  } catch (...) {
    failed = batch.size();
    spdlog::error("audit: {} documents lost: unknown error", batch.size());
  }
  if (failed > 0) {
    const std::lock_guard lock(mutex_);
    dropped_ += failed;
  }
}

}  // namespace hopscope
