// hopscope's command line (DESIGN.md §3). Parses and validates arguments, then hands over to
// the subcommand. No protocol logic lives here. Exceptions are for startup only and end here.

#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "config/address.hpp"
#include "config/audit_directory.hpp"
#include "config/duration.hpp"
#include "config/load.hpp"
#include "policy/explain.hpp"
#include "proxy/relay_command.hpp"
#include "tls/verify.hpp"

#ifndef HOPSCOPE_VERSION
#  define HOPSCOPE_VERSION "0.0.0"
#endif

namespace {

namespace config = hopscope::config;

constexpr int exit_usage = 2;

int print_errors(const std::vector<config::ConfigError>& errors) {
  for (const auto& e : errors) {
    std::fprintf(stderr, "%s\n", config::format_error(e).c_str());
  }
  return exit_usage;
}

std::string quoted(const std::string& text) {
  return "\"" + text + "\"";
}

// `check-config`: the loader's validation, then what `relay` would refuse at start-up on a
// valid file (a trust bundle it cannot load, a mode this build cannot run), so that the two
// agree: check-config says OK exactly when the relay would start on it (DESIGN.md §3, exit 2).
// An audit directory that cannot hold documents is only a warning, as in the relay: mail
// flows without it (DESIGN.md §5).
int check_config(const std::string& file) {
  const auto result = config::load_file(file, config::Purpose::check);
  if (!result.errors.empty() && result.positions.empty()) {
    return print_errors(result.errors);  // unreadable, or a TOML syntax error
  }
  // The checks below run on what was read even when the loader found faults, so that every
  // fault of the file is said at once; a key the loader refused is not judged twice.
  const config::Config& cfg = result.config ? *result.config : result.as_read;
  std::vector<config::ConfigError> errors = result.errors;
  const auto refused = [&](std::string_view key) {
    return std::any_of(errors.begin(), errors.end(),
                       [&](const config::ConfigError& e) { return e.key == key; });
  };
  // The relay loads the trust store with this very call (AuditPipeline).
  std::string trust_error;
  if (!refused("tls.trust") && !hopscope::tls::Verifier::load(cfg.tls.trust, &trust_error)) {
    errors.push_back(config::error_at(result, file, "tls.trust",
                                      "\"system\" or a PEM bundle of CA certificates",
                                      quoted(cfg.tls.trust), trust_error));
  }
  const std::string unsupported =
      std::string("a valid setting, but not supported by this version's relay (") +
      HOPSCOPE_VERSION + "), which refuses to start with it";
  if (cfg.relay.mode != config::Mode::passthrough && !refused("relay.mode")) {
    errors.push_back(config::error_at(result, file, "relay.mode", quoted("passthrough"),
                                      quoted("inspect"), unsupported));
  }
  if (cfg.relay.transparent != config::Transparent::off && !refused("relay.transparent")) {
    errors.push_back(config::error_at(
        result, file, "relay.transparent", quoted("off"),
        quoted(cfg.relay.transparent == config::Transparent::redirect ? "redirect" : "tproxy"),
        unsupported));
  }
  // A warning, printed among the errors in file order.
  std::vector<config::ConfigError> warnings;
  if (const auto problem = refused("audit.directory")
                               ? std::string()
                               : config::audit_directory_problem(cfg.audit.directory,
                                                                 config::DirectoryCheck::inspect);
      !problem.empty()) {
    warnings.push_back(config::error_at(
        result, file, "audit.directory", "", "",
        cfg.audit.directory + " " + problem + "; " + config::audit_directory_consequence()));
  }
  if (!cfg.hops.empty()) {
    warnings.push_back(config::error_at(result, file, "hops", "", "", config::hops_not_built()));
  }
  const bool invalid = !errors.empty();
  std::vector<std::pair<config::ConfigError, bool>> said;  // bool: a warning
  said.reserve(errors.size() + warnings.size());
  for (auto& e : errors) {
    said.emplace_back(std::move(e), false);
  }
  for (auto& w : warnings) {
    said.emplace_back(std::move(w), true);
  }
  std::stable_sort(said.begin(), said.end(), [](const auto& a, const auto& b) {
    const auto rank = [](const config::ConfigError& e) {
      return std::tuple(e.line == 0, e.line, e.column);
    };
    return rank(a.first) < rank(b.first);
  });
  for (const auto& [diagnostic, is_warning] : said) {
    const auto text =
        is_warning ? config::format_warning(diagnostic) : config::format_error(diagnostic);
    std::fprintf(stderr, "%s\n", text.c_str());
  }
  if (invalid) {
    return exit_usage;
  }
  std::printf("OK\n");
  return 0;
}

// "--listen: expected …; found '…': port 70000 is out of range 0-65535".
int bad_address(const char* option, const char* expected, const std::string& text,
                const std::string& problem) {
  std::fprintf(stderr, "%s: expected %s; found '%s'%s%s\n", option, expected, text.c_str(),
               problem.empty() ? "" : ": ", problem.c_str());
  return exit_usage;
}

int not_built_yet(const std::string& what) {
  std::fprintf(stderr,
               "hopscope %s: not built yet in this version (%s); see README.md for what works "
               "today\n",
               what.c_str(), HOPSCOPE_VERSION);
  return exit_usage;
}

}  // namespace

namespace {

int run(int argc, char** argv) {
  CLI::App app{
      "hopscope: a transparent SMTP inspecting proxy that shows, hop by hop, where "
      "STARTTLS or the certificate breaks"};
  app.require_subcommand(0, 1);
  bool show_version = false;
  app.add_flag("--version", show_version, "print the version and exit");

  // relay
  auto* relay = app.add_subcommand("relay", "relay SMTP sessions and write an audit log each");
  std::string relay_config;
  std::string relay_duration;
  std::vector<std::string> relay_listen;
  std::string relay_upstream;
  std::string relay_mode;
  relay->add_option("--config", relay_config, "TOML configuration file");
  relay->add_option("--duration", relay_duration, "stop after this long, e.g. 2h (drains first)");
  relay->add_option("--listen", relay_listen, "address to listen on, host:port ([::1]:25)")
      ->take_all();
  auto* upstream_option = relay->add_option("--upstream", relay_upstream, "next hop, host:port");
  relay->add_option("--mode", relay_mode, "passthrough (default) or inspect")
      ->check(CLI::IsMember({"passthrough", "inspect"}));

  // probe
  auto* probe = app.add_subcommand("probe", "probe SMTP hops and compare what each presents");
  std::vector<std::string> probe_targets;
  probe->add_option("TARGET", probe_targets, "host[:port] or name=host[:port]")->required();
  // The options of DESIGN.md §3, parsed and validated now so that scripts written against
  // the contract fail on typos today; the probe itself is not built yet.
  std::string probe_config;
  std::string probe_sni;
  std::string probe_ehlo;
  std::vector<std::string> probe_expect_names;
  bool probe_json = false;
  std::string probe_fail_on = "critical";
  bool probe_verbose = false;
  probe->add_option("--config", probe_config, "TOML configuration file ([[hops]], [policy])");
  probe->add_option("--sni", probe_sni, "server name to send in the TLS ClientHello");
  probe->add_option("--ehlo", probe_ehlo, "EHLO name of the probe");
  probe->add_option("--expect-name", probe_expect_names, "expected certificate name (repeatable)");
  probe->add_flag("--json", probe_json, "standard output holds exactly one JSON document");
  probe->add_option("--fail-on", probe_fail_on, "exit 1 on a finding at or above this severity")
      ->check(CLI::IsMember({"info", "warning", "critical"}));
  probe->add_flag("--verbose", probe_verbose, "show the SMTP conversation");

  // explain
  auto* explain = app.add_subcommand("explain", "explain an Exchange / Exchange Online error");
  std::string explain_text;
  explain->add_option("TEXT", explain_text, "the error text, pasted")->required();

  // report
  auto* report = app.add_subcommand("report", "summarise audit directories");
  std::vector<std::string> report_dirs;
  report->add_option("DIR", report_dirs, "audit directory")->required();
  std::string report_format = "table";
  std::string report_output;
  std::string report_since;
  std::string report_until;
  report->add_option("--format", report_format, "table, json, csv, tlsrpt or html")
      ->check(CLI::IsMember({"table", "json", "csv", "tlsrpt", "html"}));
  report->add_option("--output", report_output, "write to this file instead of standard output");
  report->add_option("--since", report_since, "sessions that started at or after this time");
  report->add_option("--until", report_until, "sessions that started before this time");

  // check-config
  auto* check = app.add_subcommand("check-config", "validate a configuration file");
  std::string check_file;
  check->add_option("FILE", check_file, "TOML configuration file")->required();

  // demo / lab
  auto* demo = app.add_subcommand("demo", "run the embedded lab and show each finding");
  std::string demo_scenario;
  std::string demo_keep;
  bool demo_json = false;
  demo->add_option("--scenario", demo_scenario, "run only this scenario");
  demo->add_option("--keep", demo_keep, "keep the lab's files (audit logs, certificates) here");
  demo->add_flag("--json", demo_json, "standard output holds exactly one JSON document");
  auto* lab = app.add_subcommand("lab", "leave the lab topology running");
  std::string lab_duration;
  lab->add_option("--duration", lab_duration, "stop after this long, e.g. 30m");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return exit_usage;
  }

  if (show_version) {
    std::printf("hopscope %s\n", HOPSCOPE_VERSION);
    return 0;
  }

  try {
    if (*check) {
      return check_config(check_file);
    }
    if (*relay) {
      config::Config cfg;
      if (!relay_config.empty()) {
        auto result = config::load_file(relay_config, config::Purpose::check);
        if (!result.errors.empty()) {
          return print_errors(result.errors);
        }
        cfg = std::move(*result.config);
      }
      if (!relay_listen.empty()) {
        cfg.relay.listen.clear();
        for (const auto& text : relay_listen) {
          // The same words as the loader's for relay.listen (config/address.cpp).
          const auto parsed = config::parse_endpoint_explained(text, /*allow_port_zero=*/true);
          const auto endpoint =
              parsed.endpoint ? config::listen_endpoint(*parsed.endpoint) : std::nullopt;
          if (!endpoint) {
            return bad_address(
                "--listen", "an IP address and port 0-65535 (IPv6 in brackets, e.g. [::1]:25)",
                text, parsed.endpoint ? "a host name cannot be listened on" : parsed.problem);
          }
          if (std::find(cfg.relay.listen.begin(), cfg.relay.listen.end(), *endpoint) !=
              cfg.relay.listen.end()) {
            std::fprintf(stderr, "--listen: %s is given twice\n", endpoint->to_string().c_str());
            return exit_usage;
          }
          cfg.relay.listen.push_back(*endpoint);
        }
      }
      if (upstream_option->count() > 0 && relay_upstream.empty()) {
        return bad_address("--upstream", "host:port with port 1-65535", relay_upstream,
                           "it is empty");
      }
      if (!relay_upstream.empty()) {
        auto parsed = config::parse_endpoint_explained(relay_upstream, /*allow_port_zero=*/false);
        if (!parsed.endpoint) {
          return bad_address("--upstream", "host:port with port 1-65535", relay_upstream,
                             parsed.problem);
        }
        cfg.relay.upstream = std::move(*parsed.endpoint);
      }
      if (relay_mode == "inspect") {
        cfg.relay.mode = config::Mode::inspect;
      } else if (relay_mode == "passthrough") {
        cfg.relay.mode = config::Mode::passthrough;
      }
      // The command line may supply what the file lacks: check the merged result.
      if (auto missing = config::check_required(
              cfg, config::Purpose::relay, relay_config.empty() ? "command line" : relay_config);
          !missing.empty()) {
        return print_errors(missing);
      }
      hopscope::RelayOptions options;
      if (!relay_duration.empty()) {
        auto d = config::parse_duration(relay_duration);
        if (!d || d->count() <= 0 || *d > config::max_duration) {
          std::fprintf(stderr,
                       "--duration: expected a duration greater than zero and at most %s, like "
                       "30s, 5m, 2h; found '%s'\n",
                       config::format_duration(config::max_duration).c_str(),
                       relay_duration.c_str());
          return exit_usage;
        }
        options.duration = *d;
      }
      return hopscope::run_relay(std::move(cfg), options);
    }
    if (*explain) {
      std::printf("%s\n", hopscope::policy::explain(explain_text).c_str());
      return 0;
    }
    if (*probe) {
      return not_built_yet("probe");
    }
    if (*report) {
      return not_built_yet("report");
    }
    if (*demo) {
      return not_built_yet("demo");
    }
    if (*lab) {
      return not_built_yet("lab");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hopscope: %s\n", e.what());
    return 3;
  }
  std::printf("%s", app.help().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hopscope: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "hopscope: unknown internal error\n");
  }
  return 3;
}
