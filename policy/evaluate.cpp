#include "policy/evaluate.hpp"

#include <algorithm>
#include <string>

#include "policy/certificate_checks.hpp"
#include "policy/finding_list.hpp"
#include "policy/hop_checks.hpp"
#include "policy/remedies.hpp"
#include "policy/smtp_checks.hpp"
#include "policy/tls_checks.hpp"
#include "policy/transcript.hpp"
#include "proxy/printable.hpp"
#include "tls/visibility.hpp"

namespace hopscope::policy {
namespace {

void apply_overrides(std::vector<Finding>& findings, const config::PolicyConfig& policy) {
  // The map is keyed by std::string: a lookup builds one, so none when there is no override.
  if (!policy.severity.empty()) {
    for (auto& f : findings) {
      const auto it = policy.severity.find(std::string(to_string(f.id)));
      if (it != policy.severity.end() && f.severity == default_severity(f.id)) {
        f.severity = it->second;
      }
    }
  }
  // stable_sort takes a buffer and moves every finding through it, even for one.
  if (findings.size() > 1) {
    std::stable_sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) {
      return rank(a.severity) > rank(b.severity);
    });
  }
}

bool check_unreachable(const SessionFacts& facts, FindingList& out) {
  const auto& up = facts.upstream;
  if (!up.connect_error && facts.end.reason != EndReason::upstream_unreachable) {
    return false;
  }
  std::string why = up.connect_error.value_or(facts.end.detail.value_or("connect failed"));
  // The relay writes "connect to ADDRESS: why" or "connect to ADDRESS timed out after …"
  // (proxy/session.cpp); the address is said once below, so keep only the why.
  if (const std::string prefix = "connect to " + up.address;
      !up.address.empty() && why.starts_with(prefix + ": ")) {
    why.erase(0, prefix.size() + 2);
  } else if (why.starts_with(prefix + " ")) {
    why.erase(0, prefix.size() + 1);
  }
  out.add(
      FindingId::upstream_unreachable, "upstream",
      "upstream " + printable(up.address, 100) + " could not be reached: " + printable(why, 200),
      "connect to " + printable(up.address, 100) +
          (up.local.empty() ? std::string{} : " from " + printable(up.local, 100)) + ": " +
          printable(why, 300),
      std::nullopt, remedy(FindingId::upstream_unreachable) + unreachable_port_advice(up.address));
  return true;
}

// In passthrough the sender's chain is on the wire only up to TLS 1.2 and only on a full
// handshake (RFC 8446 §4.4.2: TLS 1.3 encrypts it; a resumed session sends none). The same
// rule decides what the audit document records as seen (tls/visibility.hpp).
bool client_chain_visible(const TlsFacts& tls, const StartTlsFacts& st, bool terminated) {
  if (st.handshake != "ok") {
    return false;
  }
  if (terminated) {
    return true;
  }
  return tls.version && tls::client_certificate_exchange_visible(tls);
}

}  // namespace

std::vector<Finding> evaluate(const SessionFacts& facts, const HopResults& hops,
                              const config::PolicyConfig& policy, std::int64_t now_unix) {
  if (facts.own_probe) {
    return {};  // DESIGN.md §5: hopscope's own probes raise no findings
  }
  FindingList out;
  if (check_unreachable(facts, out)) {
    auto findings = out.take();
    apply_overrides(findings, policy);
    return findings;
  }
  const auto exchanges = pair_exchanges(facts.transcript);
  check_smtp(facts, exchanges, policy, out);
  if (const auto& tls = facts.upstream.tls) {
    check_tls_parameters(*tls, facts.upstream.starttls, "upstream", policy, out);
    check_server_certificates(*tls, "upstream", policy, now_unix, out);
    if (!facts.downstream.tls) {
      check_client_certificate(*tls, client_chain_visible(*tls, facts.upstream.starttls, false),
                               "downstream", policy, out);
    }
  }
  if (const auto& tls = facts.downstream.tls) {
    // Inspect mode: hopscope terminated the sender's TLS; the server chain there is ours.
    check_tls_parameters(*tls, facts.downstream.starttls, "downstream", policy, out);
    check_client_certificate(*tls, client_chain_visible(*tls, facts.downstream.starttls, true),
                             "downstream", policy, out);
  }
  const auto last = std::find_if(hops.rbegin(), hops.rend(),
                                 [](const HopFacts& h) { return !h.error.has_value(); });
  if (last != hops.rend()) {
    compare_session_with_hop(facts, *last, out);
  }
  check_sender_abandoned(facts, out);
  check_remote_tls_errors(exchanges, out);
  auto findings = out.take();
  apply_overrides(findings, policy);
  return findings;
}

std::vector<Finding> evaluate_hops(const HopResults& hops, const config::PolicyConfig& policy,
                                   std::int64_t now_unix) {
  FindingList out;
  for (const auto& hop : hops) {
    check_hop(hop, policy, now_unix, out);
  }
  for (std::size_t i = 0; i + 1 < hops.size(); ++i) {
    compare_adjacent_hops(hops[i], hops[i + 1], out);
  }
  auto findings = out.take();
  apply_overrides(findings, policy);
  return findings;
}

}  // namespace hopscope::policy
