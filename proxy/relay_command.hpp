#pragma once
// `hopscope relay`: binds the listeners, runs sessions on one io_context per core, and
// drains on SIGTERM/SIGINT or at the end of --duration (DESIGN.md §3, §4 [relay]).

#include <chrono>
#include <optional>

#include "config/config.hpp"

namespace hopscope {

struct RelayOptions {
  std::optional<std::chrono::milliseconds> duration;  // stop (and drain) after this long
};

// Runs until stopped. Returns the process exit code: 0 after a clean stop, 2 for a
// configuration the relay cannot use, 3 when it cannot bind or fails internally.
int run_relay(config::Config config, const RelayOptions& options);

}  // namespace hopscope
