// Runs swaks (the SMTP test tool) and returns its exit code and transcript. Test support only.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace hopscope::test {

struct SwaksResult {
  int exit_code = -1;      // swaks: 0 delivered; 2x connect, 2x-3x TLS/protocol failures; -1 hung
  std::string transcript;  // stdout: the SMTP conversation as swaks prints it
  std::string errors;      // stderr
};

// Runs `swaks <args...>` without a shell, killing it after `timeout`.
// Example args: {"--server", "127.0.0.1:2525", "--to", "u@contoso.test", "--from",
// "a@example.test", "--tls", "--tls-verify", "--tls-ca-path", ca, "--data", "@msg.eml"}.
// swaks rewrites --data (CRLF line endings, dot-stuffing, a trailing CRLF), so write message
// files with CRLF and WITHOUT a final line ending: the delivered message is then file + CRLF.
[[nodiscard]] SwaksResult run_swaks(const std::vector<std::string>& args,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(30));

// The path of the hopscope executable built by this tree (compile definition HOPSCOPE_BINARY).
[[nodiscard]] std::string hopscope_binary();

}  // namespace hopscope::test
