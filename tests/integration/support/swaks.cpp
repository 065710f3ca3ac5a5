#include "swaks.hpp"

#include "process.hpp"

namespace hopscope::test {

SwaksResult run_swaks(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  std::vector<std::string> argv{"swaks"};
  argv.insert(argv.end(), args.begin(), args.end());
  Process swaks(argv);
  SwaksResult result;
  const auto code = swaks.wait(timeout);
  result.exit_code = code ? *code : (swaks.terminate(), -1);
  // The reader thread may still hold the last bytes: wait for end of file on both streams.
  (void)swaks.wait_for_eof(std::chrono::seconds(5));
  result.transcript = swaks.output(Stream::out);
  result.errors = swaks.output(Stream::err);
  return result;
}

std::string hopscope_binary() {
  return HOPSCOPE_BINARY;
}

}  // namespace hopscope::test
