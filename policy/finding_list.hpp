#pragma once
// The findings of one evaluation as they are collected: one Finding per (id, leg), later
// evidence for the same pair appended to the first. Internal to policy; pure.

#include <optional>
#include <string>
#include <vector>

#include "policy/finding.hpp"

namespace hopscope::policy {

// A leg as a summary names it: "upstream", "the sender", or `hop "name"` for "hop:name".
std::string display_leg(const std::string& leg);

class FindingList {
 public:
  // Adds a finding with the catalogue's default severity (or `severity`) and remedy(id)
  // (or `remedy_text`). A second finding with the same id and leg only adds its evidence.
  void add(FindingId id, const std::string& leg, std::string summary, std::string evidence,
           std::optional<Severity> severity = std::nullopt, std::string remedy_text = {});
  [[nodiscard]] bool has(FindingId id) const;
  [[nodiscard]] bool has(FindingId id, const std::string& leg) const;
  [[nodiscard]] Finding* find(FindingId id, const std::string& leg);
  [[nodiscard]] const std::vector<Finding>& items() const { return items_; }
  std::vector<Finding> take() { return std::move(items_); }
  void append(std::vector<Finding> more);

 private:
  std::vector<Finding> items_;
};

}  // namespace hopscope::policy
