#pragma once
// Hop findings (DESIGN.md §1 `[[hops]]`, §6): each probed hop judged on its own, adjacent hops
// compared (a leaf certificate or EHLO capability set that changes between two hops locates
// the device between them), and a session's upstream compared with the last hop (Exchange's
// own). Hops are in path order, sender side first. Pure.

#include <cstdint>
#include <string>

#include "config/config.hpp"
#include "policy/finding_list.hpp"
#include "proxy/facts.hpp"

namespace hopscope::policy {

// "hop:<name>".
std::string hop_leg(const HopFacts& hop);

// UPSTREAM_UNREACHABLE, BANNER_MASKED, STARTTLS_MASKED/NOT_OFFERED/REJECTED, TLS and
// certificate findings of one hop's probe.
void check_hop(const HopFacts& hop, const config::PolicyConfig& policy, std::int64_t now_unix,
               FindingList& out);

// CERT_DIFFERS_FROM_HOP and CAPABILITIES_DIFFER_FROM_HOP between `near` (sender side) and
// `far` (the next hop toward Exchange), under `near`'s leg.
void compare_adjacent_hops(const HopFacts& near, const HopFacts& far, FindingList& out);

// The same two findings between a session's upstream and `last` (the last hop that answered),
// under the leg "upstream".
void compare_session_with_hop(const SessionFacts& facts, const HopFacts& last, FindingList& out);

}  // namespace hopscope::policy
