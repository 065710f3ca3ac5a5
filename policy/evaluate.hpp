#pragma once
// policy::evaluate: facts in, findings out (DESIGN.md §6, §7; STYLE.md C.4). A pure function
// of the session facts, the latest hop probe results, the policy configuration and the time
// `now_unix` (seconds since the epoch) the caller passes in: no I/O, no clock, no logging.

#include <cstdint>
#include <vector>

#include "config/config.hpp"
#include "policy/finding.hpp"
#include "policy/verdict.hpp"  // every caller of evaluate() also writes the verdict line
#include "proxy/facts.hpp"

namespace hopscope::policy {

// Findings of one session, sorted critical first (stable within a severity), one per
// (id, leg). Includes the comparison of the session's upstream with the last hop in `hops`
// that answered (CERT_DIFFERS_FROM_HOP, CAPABILITIES_DIFFER_FROM_HOP under "upstream").
// Empty for hopscope's own probe sessions (`own_probe`). Severity overrides from
// `policy.severity` replace a finding's default severity; a finding graded below its default
// on purpose (TLS_CIPHER_WEAK for a forward-secret CBC suite: info) keeps its grade.
std::vector<Finding> evaluate(const SessionFacts& facts, const HopResults& hops,
                              const config::PolicyConfig& policy, std::int64_t now_unix);

// Findings of a hop probe round (the hops/ documents): each hop judged on its own under
// "hop:<name>", then adjacent hops compared (CERT_DIFFERS_FROM_HOP,
// CAPABILITIES_DIFFER_FROM_HOP under the sender-side hop's leg).
std::vector<Finding> evaluate_hops(const HopResults& hops, const config::PolicyConfig& policy,
                                   std::int64_t now_unix);

}  // namespace hopscope::policy
