#pragma once
// What every session of one `hopscope relay` process shares: the configuration, the audit
// pipeline, session limits and the shutdown state. Sessions on several threads use it, so
// everything mutable here is atomic or behind its own mutex.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "config/config.hpp"

namespace hopscope {

class AuditPipeline;
class SessionIdGenerator;

// max_sessions and max_sessions_per_client (DESIGN.md §4). acquire() and release() pair up.
class SessionLimits {
 public:
  SessionLimits(std::uint32_t max_sessions, std::uint32_t max_per_client)
      : max_sessions_(max_sessions), max_per_client_(max_per_client) {}

  enum class Admission { admitted, too_many_sessions, too_many_from_client };
  Admission acquire(const std::string& client_ip) {
    const std::lock_guard lock(mutex_);
    if (active_ >= max_sessions_) {
      return Admission::too_many_sessions;
    }
    auto& n = per_client_[client_ip];
    if (n >= max_per_client_) {
      if (n == 0) {
        per_client_.erase(client_ip);
      }
      return Admission::too_many_from_client;
    }
    ++n;
    ++active_;
    return Admission::admitted;
  }
  void release(const std::string& client_ip) {
    const std::lock_guard lock(mutex_);
    auto it = per_client_.find(client_ip);
    if (it != per_client_.end() && --it->second == 0) {
      per_client_.erase(it);
    }
    --active_;
  }
  [[nodiscard]] std::uint32_t active() const {
    const std::lock_guard lock(mutex_);
    return active_;
  }

 private:
  mutable std::mutex mutex_;
  std::uint32_t max_sessions_;
  std::uint32_t max_per_client_;
  std::uint32_t active_ = 0;
  std::unordered_map<std::string, std::uint32_t> per_client_;
};

// Live sessions, so that the end of the drain period can close them. A session registers a
// closer that posts to its own executor; the registry never touches a socket itself.
class SessionRegistry {
 public:
  // Ids start at 1: 0 means "not registered" (a refused session never registers).
  static constexpr std::uint64_t none = 0;

  // How a session is told to close. `drain_over`: the drain period ended; a session whose
  // sender has finished a message and waits for upstream's reply to it waits for that reply
  // first (within timeouts.data_end): cut now, the sender would send the message again
  // although upstream may have taken it (RFC 1047). `now`: a second signal; close at once.
  // `lingering`: the drain began; a session that only lingers after our 421 (its document is
  // written) closes now, so that it does not hold the drain; every other session ignores it.
  enum class CloseKind { drain_over, now, lingering };

  std::uint64_t add(std::function<void(CloseKind)> closer) {
    const std::lock_guard lock(mutex_);
    const auto id = next_++;
    closers_.emplace(id, std::move(closer));
    return id;
  }
  void remove(std::uint64_t id) {
    if (id == none) {
      return;
    }
    const std::lock_guard lock(mutex_);
    closers_.erase(id);
  }
  void close_all(CloseKind kind) {
    std::unordered_map<std::uint64_t, std::function<void(CloseKind)>> copy;
    {
      const std::lock_guard lock(mutex_);
      copy = closers_;
    }
    for (auto& [id, close] : copy) {
      close(kind);
    }
  }
  [[nodiscard]] std::size_t size() const {
    const std::lock_guard lock(mutex_);
    return closers_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::uint64_t next_ = none + 1;
  std::unordered_map<std::uint64_t, std::function<void(CloseKind)>> closers_;
};

struct RelayContext {
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<AuditPipeline> audit;
  std::shared_ptr<SessionIdGenerator> ids;
  SessionLimits limits;
  SessionRegistry registry;
  std::atomic<bool> draining{false};       // a signal or --duration began the drain
  std::atomic<bool> shutting_down{false};  // drain period over: sessions were closed by us
  std::atomic<bool> cut_short{false};      // a second signal ended the drain early

  RelayContext(std::shared_ptr<const config::Config> cfg, std::shared_ptr<AuditPipeline> pipeline,
               std::shared_ptr<SessionIdGenerator> id_generator)
      : config(std::move(cfg)),
        audit(std::move(pipeline)),
        ids(std::move(id_generator)),
        limits(config->relay.max_sessions, config->relay.max_sessions_per_client) {}
};

}  // namespace hopscope
