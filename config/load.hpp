#pragma once
// Loads the TOML configuration of DESIGN.md §4 into the plain structs of config.hpp and
// validates every key: types, ranges, enums, addresses, durations, cross-key rules, and
// unknown keys (a typo must never silently disable a check). All validation errors of a
// file are returned at once, each with file, line, column, key, expected and found; a TOML
// syntax error (toml++ stops at the first one) is returned alone with toml++'s position.
// Never throws for bad input and never aborts; toml++ is used only in load.cpp.

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace hopscope::config {

struct ConfigError {
  std::string file;
  std::uint32_t line = 0;    // 1-based; 0 when the error has no position (a missing key)
  std::uint32_t column = 0;  // 1-based
  std::string key;           // dotted path, e.g. "relay.timeouts.command", "hops[1].address"
  std::string expected;
  std::string found;
  std::string message;  // anything else: a hint ("did you mean 'command'?"), a syntax error
};

// "FILE:LINE:COLUMN: key 'relay.timeouts.command': expected a duration like 30s, 5m, 250ms,
// 2h; found \"5 minutes\"". Parts that are empty are left out.
[[nodiscard]] std::string format_error(const ConfigError& error);
// The same for something that does not make the file invalid: "FILE:LINE:COLUMN: warning: key
// 'audit.directory': …".
[[nodiscard]] std::string format_warning(const ConfigError& warning);

// Which keys a subcommand requires. `relay` needs relay.listen, and relay.upstream unless
// relay.transparent is not "off"; `check` and `probe` need nothing beyond valid values.
enum class Purpose { check, relay, probe };

// Where a key's value is written in the file, 1-based.
struct KeyPosition {
  std::uint32_t line = 0;
  std::uint32_t column = 0;
};

struct LoadResult {
  std::optional<Config> config;     // set exactly when errors is empty
  std::vector<ConfigError> errors;  // in file order; errors without a position come last
  // Every key the file sets, by dotted path ("tls.trust", "relay.mode") → its value's
  // position, so that checks made after loading (a trust bundle that cannot be read, a mode
  // this build cannot run) can point at the line as the loader's own errors do.
  std::map<std::string, KeyPosition> positions;
  // The configuration as far as it was read, also when `errors` is not empty (a key with an
  // error keeps its default): check-config runs its checks made after loading on it, so that
  // a file with several faults has them all said at once (DESIGN.md §3).
  Config as_read;
};

// An error about `key` found after loading, positioned where `result` saw the key (no
// position when the file does not set it: the default is at fault).
[[nodiscard]] ConfigError error_at(const LoadResult& result, const std::string& file,
                                   const std::string& key, std::string expected, std::string found,
                                   std::string message = {});

// Outcomes: a Config; or errors for an unreadable file, a TOML syntax error (one error), or
// every validation error of the file.
[[nodiscard]] LoadResult load_file(const std::string& path, Purpose purpose);
[[nodiscard]] LoadResult load_string(std::string_view toml_text, const std::string& source_name,
                                     Purpose purpose);

// The keys `purpose` requires that `config` lacks, as errors without a position. For a
// caller that applies command-line overrides (--listen, --upstream) after loading with
// Purpose::check; load_* already applies it.
[[nodiscard]] std::vector<ConfigError> check_required(const Config& config, Purpose purpose,
                                                      const std::string& source_name);

// What check-config and the relay say of a [[hops]] list in this version: the entries are
// valid and checked, but nothing probes them yet (DESIGN.md §1; hop probes are a later issue).
[[nodiscard]] std::string hops_not_built();

// The finding ids accepted as [policy.severity] keys (DESIGN.md §6), in that table's order.
[[nodiscard]] std::span<const std::string_view> known_finding_ids();

}  // namespace hopscope::config
