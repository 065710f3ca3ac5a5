#include "policy/finding_list.hpp"

#include <utility>

#include "policy/remedies.hpp"

namespace hopscope::policy {

std::string display_leg(const std::string& leg) {
  if (leg.rfind("hop:", 0) == 0) {
    return "hop \"" + leg.substr(4) + "\"";
  }
  return leg == "downstream" ? "the sender" : leg;
}

void FindingList::add(FindingId id, const std::string& leg, std::string summary,
                      std::string evidence, std::optional<Severity> severity,
                      std::string remedy_text) {
  if (Finding* existing = find(id, leg)) {
    if (!evidence.empty() && existing->evidence.find(evidence) == std::string::npos) {
      existing->evidence += existing->evidence.empty() ? "" : "; ";
      existing->evidence += evidence;
    }
    if (severity && rank(*severity) > rank(existing->severity)) {
      existing->severity = *severity;
    }
    return;
  }
  Finding f;
  f.id = id;
  f.severity = severity.value_or(default_severity(id));
  f.leg = leg;
  f.summary = std::move(summary);
  f.evidence = std::move(evidence);
  f.remedy = remedy_text.empty() ? remedy(id) : std::move(remedy_text);
  items_.push_back(std::move(f));
}

bool FindingList::has(FindingId id) const {
  for (const auto& f : items_) {
    if (f.id == id) {
      return true;
    }
  }
  return false;
}

bool FindingList::has(FindingId id, const std::string& leg) const {
  for (const auto& f : items_) {
    if (f.id == id && f.leg == leg) {
      return true;
    }
  }
  return false;
}

Finding* FindingList::find(FindingId id, const std::string& leg) {
  for (auto& f : items_) {
    if (f.id == id && f.leg == leg) {
      return &f;
    }
  }
  return nullptr;
}

void FindingList::append(std::vector<Finding> more) {
  for (auto& f : more) {
    if (!has(f.id, f.leg)) {
      items_.push_back(std::move(f));
    }
  }
}

}  // namespace hopscope::policy
