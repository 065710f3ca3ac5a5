#include "proxy/audit_pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
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

// Moves the texts: the findings are not needed once the verdict and summary line are made.
std::vector<FindingView> to_views(std::vector<policy::Finding>&& findings) {
  std::vector<FindingView> views;
  views.reserve(findings.size());
  for (auto& f : findings) {
    views.push_back(FindingView{std::string(policy::to_string(f.id)),
                                std::string(policy::to_string(f.severity)), std::move(f.leg),
                                std::move(f.summary), std::move(f.evidence), std::move(f.remedy)});
  }
  return views;
}

// Appended into one string: a chain of operator+ made a temporary per piece.
std::string summary_line(const SessionFacts& facts, const std::vector<policy::Finding>& findings,
                         const std::string& verdict) {
  const auto& up = facts.upstream;
  constexpr std::size_t typical = 256;
  std::string line;
  line.reserve(typical);
  line += "session ";
  line += facts.id;
  line += ' ';
  line += facts.downstream.peer;
  line += " -> ";
  line += up.address;
  line += " starttls offered=";
  line += up.starttls.offered ? "yes" : "no";
  line += " used=";
  line += starttls_used(up.starttls) ? "yes" : "no";
  line += " tls=";
  line += up.tls && up.tls->version ? std::string_view(*up.tls->version) : "none";
  line += " end=";
  line += to_string(facts.end.reason);
  line += " findings=[";
  for (std::size_t i = 0; i < findings.size(); ++i) {
    line += i == 0 ? "" : ",";
    line += policy::to_string(findings[i].id);
  }
  line += "] verdict: ";
  line += printable_escaped(verdict, 300);  // policy escaped it
  return line;
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

// What ran short, in an operator's words.
std::string shortage_words(int error) {
  const auto reason = std::generic_category().message(error);
  if (error == ENOMEM) {
    return "out of kernel memory (" + reason + ")";
  }
  return "out of file descriptors (" + reason + ")";
}

double seconds_between(std::chrono::steady_clock::time_point from,
                       std::chrono::steady_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
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
      run_worker(Worker::idle);
    });
  }
  catch_up_worker_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "hopscope-audit+");
    run_worker(Worker::catch_up);
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
    // Documents that wait for descriptors count against the same bound: a shortage that
    // lasts fills it, and only then are sessions lost.
    if (!stopping_ && queue_.size() + waiting_.size() < max_queued &&
        queued_bytes_ + session.approximate_bytes <= max_queued_bytes) {
      const bool was_behind = behind(now);
      session.sequence = next_sequence_++;
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
    waiting = queue_.size() + waiting_.size();
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
    give_up_at_ = std::chrono::steady_clock::now() + shutdown_retry_limit;
    ready_.notify_all();
    catch_up_.notify_all();
  }
  if (worker_.joinable()) {
    worker_.join();
  }
  if (catch_up_worker_.joinable()) {
    catch_up_worker_.join();
  }
  // The idle worker's last batch may have met the shortage after the catch-up worker, with
  // nothing left to retry, had stopped: those documents are given up here, not forgotten.
  std::vector<Entry> rest;
  std::size_t waited = 0;
  {
    const std::lock_guard lock(mutex_);
    if (!waiting_.empty()) {
      waited = give_up_waiting(rest);
    }
  }
  if (!rest.empty()) {
    give_up(rest, waited);
  }
  writer_->flush_summary_lines();
}

std::uint64_t AuditPipeline::lost() const {
  const std::lock_guard lock(mutex_);
  return dropped_ + writer_->documents_lost();
}

std::size_t AuditPipeline::waiting() const {
  const std::lock_guard lock(mutex_);
  return waiting_.size();
}

std::size_t AuditPipeline::summary_lines_waiting() const {
  return writer_->summary_lines_held();
}

void AuditPipeline::take_batch(std::vector<Entry>& batch) {
  // Documents that waited for descriptors go first, in the order the sessions ended.
  while (!waiting_.empty() && batch.size() < max_batch) {
    queued_bytes_ -= waiting_.front().session.approximate_bytes;
    batch.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  // Whatever has queued up meanwhile goes out with one durability barrier (group commit).
  while (!queue_.empty() && batch.size() < max_batch) {
    queued_bytes_ -= queue_.front().approximate_bytes;
    batch.push_back(Entry{std::move(queue_.front()), std::nullopt});
    queue_.pop_front();
  }
}

bool AuditPipeline::behind(std::chrono::steady_clock::time_point now) const {
  return queue_.size() >= catch_up_sessions || queued_bytes_ >= catch_up_bytes ||
         (!queue_.empty() && now - queue_.front().queued_at >= max_lag);
}

std::size_t AuditPipeline::give_up_waiting(std::vector<Entry>& batch) {
  const auto waited = waiting_.size();
  // The queue behind them would meet the same shortage, batch after batch: given up with
  // them, in one go and said once.
  batch.reserve(waiting_.size() + queue_.size());
  for (auto& entry : waiting_) {
    batch.push_back(std::move(entry));
  }
  for (auto& session : queue_) {
    batch.push_back(Entry{std::move(session), std::nullopt});
  }
  waiting_.clear();
  queue_.clear();
  queued_bytes_ = 0;
  dropped_ += batch.size();
  retry_pause_ = std::chrono::milliseconds(0);
  return waited;
}

void AuditPipeline::give_up(std::vector<Entry>& batch, std::size_t waited) {
  const auto n = batch.size();
  try {
    std::vector<AuditItem> items;
    items.reserve(n);
    for (auto& entry : batch) {
      if (!entry.judged) {
        try {
          entry.judged = judge(entry.session);
          spdlog::info(entry.judged->summary);
        } catch (...) {
          // Counted lost with the others; without a verdict it has no summary line.
        }
      }
      if (entry.judged) {
        items.push_back(
            AuditItem{&entry.session.facts, &entry.judged->findings, &entry.judged->verdict});
      }
    }
    // noexcept: counts the lines it cannot keep.
    writer_->hold_summary_lines(items);
    spdlog::error(
        "audit: still short of descriptors {} s after shutdown began: {} session document{} "
        "({} waited, {} never tried) could not be written and {} lost; their sessions.jsonl "
        "lines are appended if a descriptor frees up",
        shutdown_retry_limit.count(), n, n == 1 ? "" : "s", waited, n - waited,
        n == 1 ? "is" : "are");
  } catch (...) {
    // Logging must not stop mail; the documents are counted lost already.
  }
}

void AuditPipeline::run_worker(Worker who) {
  std::vector<Entry> batch;
  for (;;) {
    batch.clear();
    bool retry = false;
    std::optional<std::size_t> given_up;
    {
      std::unique_lock lock(mutex_);
      if (!next_batch(lock, batch, who, given_up)) {
        return;
      }
      retry = who == Worker::catch_up && retrying_;
    }
    if (given_up) {
      give_up(batch, *given_up);
    } else {
      write_batch(batch, retry);
    }
  }
}

bool AuditPipeline::next_batch(std::unique_lock<std::mutex>& lock, std::vector<Entry>& batch,
                               Worker who, std::optional<std::size_t>& given_up) {
  using Clock = std::chrono::steady_clock;
  if (who == Worker::idle) {
    // During a shortage the idle worker stands aside: the catch-up worker, at normal
    // priority, retries alone, so the waiting documents keep their order and a retry never
    // waits for a CPU that the relay keeps busy.
    bool lingered = false;
    for (;;) {
      if (!waiting_.empty() || retrying_) {
        if (stopping_) {
          return false;
        }
        ready_.wait(lock);
        continue;
      }
      if (queue_.empty()) {
        if (stopping_) {
          return false;
        }
        lingered = false;
        ready_.wait(lock);
        continue;
      }
      if (!lingered && !stopping_ && queue_.size() < max_batch) {
        lingered = true;
        ready_.wait_for(lock, batch_linger, [this] {
          return stopping_ || queue_.size() >= max_batch || !waiting_.empty() || retrying_;
        });
        continue;
      }
      take_batch(batch);
      return true;
    }
  }
  for (;;) {
    const auto now = Clock::now();
    if (!waiting_.empty() && stopping_ && now >= give_up_at_) {
      given_up = give_up_waiting(batch);
      return true;
    }
    // Held-back sessions.jsonl lines are retried too, even with no session to carry them;
    // at shutdown the final flush takes them.
    if (!waiting_.empty() || (lines_held_ > 0 && !stopping_)) {
      if (now >= retry_at_) {
        retrying_ = true;
        take_batch(batch);  // may be empty: then only the lines are retried
        return true;
      }
      catch_up_.wait_until(
          lock, stopping_ && !waiting_.empty() ? std::min(retry_at_, give_up_at_) : retry_at_);
      continue;
    }
    if (stopping_ || behind(now)) {
      if (queue_.empty()) {
        return false;  // stopping, and nothing left
      }
      take_batch(batch);
      return true;
    }
    if (queue_.empty()) {
      catch_up_.wait(lock);
    } else {
      catch_up_.wait_until(lock, queue_.front().queued_at + max_lag);
    }
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
  judged.findings = to_views(std::move(findings));
  return judged;
}

void AuditPipeline::write_batch(std::vector<Entry>& batch, bool retry) {
  // An exception escaping a worker thread would call std::terminate and stop the mail: a
  // session that cannot be judged or written is counted as lost and said on stderr instead.
  std::uint64_t failed = 0;
  int shortage = 0;
  std::size_t waited_and_written = 0;
  std::vector<Entry> deferred;
  try {
    std::vector<bool> waited(batch.size());  // tried before: judged and said already
    for (std::size_t i = 0; i < batch.size(); ++i) {
      waited[i] = batch[i].judged.has_value();
      if (waited[i]) {
        continue;
      }
      try {
        batch[i].judged = judge(batch[i].session);
      } catch (const std::exception& e) {
        ++failed;
        spdlog::error("audit: session {}: {}; its document is lost", batch[i].session.facts.id,
                      e.what());
      } catch (...) {
        ++failed;
        spdlog::error("audit: session {}: unknown error; its document is lost",
                      batch[i].session.facts.id);
      }
    }
    std::vector<AuditItem> items;
    std::vector<std::size_t> of_entry;  // items[k] belongs to batch[of_entry[k]]
    items.reserve(batch.size());
    of_entry.reserve(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (auto& judged = batch[i].judged) {
        items.push_back(AuditItem{&batch[i].session.facts, &judged->findings, &judged->verdict});
        of_entry.push_back(i);
      }
    }
    std::vector<AuditOutcome> outcomes(items.size(), AuditOutcome::lost);
    // noexcept: counts what it cannot write itself, hands back what must wait.
    if (items.empty()) {
      writer_->retry_summary_lines();  // a retry for held-back lines alone
    } else {
      shortage = writer_->write_batch(items, outcomes);
    }
    for (std::size_t k = 0; k < items.size(); ++k) {
      const auto i = of_entry[k];
      if (!waited[i]) {
        // Logged as it is, not as a format string: the same line without formatting it.
        spdlog::info(batch[i].judged->summary);  // spdlog reports its own errors
      }
      if (outcomes[k] == AuditOutcome::written && waited[i]) {
        ++waited_and_written;
      }
    }
    deferred.reserve(items.size());
    for (std::size_t k = 0; k < items.size(); ++k) {
      if (outcomes[k] == AuditOutcome::deferred) {
        deferred.push_back(std::move(batch[of_entry[k]]));
      }
    }
  } catch (const std::exception& e) {
    failed = batch.size();
    deferred.clear();
    spdlog::error("audit: {} documents lost: {}", batch.size(), e.what());
  } catch (...) {
    failed = batch.size();
    deferred.clear();
    spdlog::error("audit: {} documents lost: unknown error", batch.size());
  }

  const auto now = std::chrono::steady_clock::now();
  std::size_t now_waiting = 0;
  std::size_t lines_waiting = 0;
  std::chrono::milliseconds pause{0};
  bool resumed = false;
  std::uint64_t resumed_count = 0;
  double waited_for = 0;
  {
    const std::lock_guard lock(mutex_);
    if (retry) {
      retrying_ = false;
    }
    dropped_ += failed;
    waited_written_ += waited_and_written;
    for (auto& entry : deferred) {
      // In submission order, whichever worker's batch it came from.
      const auto at = std::upper_bound(
          waiting_.begin(), waiting_.end(), entry.session.sequence,
          [](std::uint64_t seq, const Entry& other) { return seq < other.session.sequence; });
      queued_bytes_ += entry.session.approximate_bytes;
      waiting_.insert(at, std::move(entry));
    }
    lines_held_ = writer_->summary_lines_held();  // the writer never takes mutex_
    if (!deferred.empty() || lines_held_ > 0) {
      if (retry_pause_.count() == 0) {
        shortage_since_ = now;
        waited_written_ = 0;
        retry_pause_ = retry_pause_first;
      } else {
        retry_pause_ = std::min(retry_pause_ * 2, retry_pause_max);
      }
      retry_at_ = now + retry_pause_;
      pause = retry_pause_;
      now_waiting = deferred.empty() ? 0 : waiting_.size();
      lines_waiting = lines_held_;
    } else if (retry_pause_.count() != 0 && waiting_.empty()) {
      resumed = true;
      resumed_count = waited_written_;
      waited_for = seconds_between(shortage_since_, now);
      retry_pause_ = std::chrono::milliseconds(0);
    }
  }
  ready_.notify_all();
  catch_up_.notify_all();
  try {
    if (now_waiting > 0 && shortage_reports_.allow(shortage, now)) {
      spdlog::warn(
          "audit: {}; {} session document{} wait{} and will be written when descriptors free "
          "up (next try in {} ms); mail keeps flowing",
          shortage_words(shortage), now_waiting, now_waiting == 1 ? "" : "s",
          now_waiting == 1 ? "s" : "", pause.count());
    }
    // Its own kind (-1): said beside the documents' line, not instead of it.
    if (lines_waiting > 0 && shortage_reports_.allow(-1, now)) {
      spdlog::warn(
          "audit: {} sessions.jsonl line{} wait{} for a file descriptor (next try in {} ms); "
          "mail keeps flowing",
          lines_waiting, lines_waiting == 1 ? "" : "s", lines_waiting == 1 ? "s" : "",
          pause.count());
    }
    if (resumed && resumed_count == 0) {
      shortage_reports_.forget();
      spdlog::warn(
          "audit: descriptors free again: writing resumed after {:.1f} s; the sessions.jsonl "
          "lines that waited are appended",
          waited_for);
    } else if (resumed) {
      shortage_reports_.forget();  // the next shortage is said at once
      spdlog::warn(
          "audit: descriptors free again: writing resumed after {:.1f} s; {} session document{} "
          "that waited {} written",
          waited_for, resumed_count, resumed_count == 1 ? "" : "s",
          resumed_count == 1 ? "is" : "are");
    }
  } catch (...) {
    // Logging must not stop mail.
  }
}

}  // namespace hopscope
