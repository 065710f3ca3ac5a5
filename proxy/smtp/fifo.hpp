#pragma once
// A first-in first-out queue for the codec's event and reply queues. They fill and drain in
// short bursts (a read's events, then drain_events), so a std::deque frees and allocates a
// 512-byte node every few events; this queue keeps its storage, rewinds when it runs empty,
// and allocates nothing once a session has warmed up. Its storage is bounded by the
// longest burst, which the codec's limits already bound (max_pipelined_commands, ...); a
// queue that never runs empty (a sender that always keeps a command in flight) sheds its
// consumed front once that is half the storage, so it cannot grow without bound either.
// Never throws beyond what std::vector does.

#include <cstddef>
#include <utility>
#include <vector>

namespace hopscope::smtp {

template <typename T>
class Fifo {
 public:
  [[nodiscard]] bool empty() const { return head_ == items_.size(); }
  [[nodiscard]] std::size_t size() const { return items_.size() - head_; }
  // Items held in storage, the consumed ones not yet shed included (for tests).
  [[nodiscard]] std::size_t stored() const { return items_.size(); }

  T& front() { return items_[head_]; }
  const T& front() const { return items_[head_]; }

  template <typename... Args>
  T& emplace_back(Args&&... args) {
    return items_.emplace_back(std::forward<Args>(args)...);
  }
  void push_back(T item) { items_.push_back(std::move(item)); }

  // Removes the front item (most often already moved from). When the queue runs empty its
  // storage is rewound, not freed.
  void pop_front() {
    if (++head_ == items_.size()) {
      items_.clear();
      head_ = 0;
    } else if (head_ >= compact_after && head_ * 2 >= items_.size()) {
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }

  [[nodiscard]] auto begin() const { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  [[nodiscard]] auto end() const { return items_.end(); }
  [[nodiscard]] auto begin() { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  [[nodiscard]] auto end() { return items_.end(); }

 private:
  static constexpr std::size_t compact_after = 16;
  std::vector<T> items_;
  std::size_t head_ = 0;
};

}  // namespace hopscope::smtp
