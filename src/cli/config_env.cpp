#include "cli/config_env.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <set>

namespace netpulse::cli {

namespace {

constexpr const char* kConfigHelp =
    "Read options from this TOML file, one `name = value` a line with the long option names "
    "(memory-limit = \"512MiB\", T = 60, quiet = true, scenario = [\"dos@30s+20s\"]). Any option "
    "can also come from an environment variable NETPULSE_<NAME> (NETPULSE_MEMORY_LIMIT=512MiB, "
    "NETPULSE_T=60, NETPULSE_QUIET=1). The command line wins over the environment, which wins "
    "over this file";

std::string env_name(const std::string& lname) {
  std::string out = "NETPULSE_";
  for (char c : lname) out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

void add_config_options(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    // Read before parsing (expand_arguments); declared so that parsing accepts it and --help
    // shows it.
    sub->add_option("--config", kConfigHelp)->type_name("FILE");
  }
}

std::vector<std::string> expand_arguments(const CLI::App& app, int argc, const char* const* argv,
                                          std::string* error) {
  std::vector<std::string> args(argv, argv + argc);
  if (argc < 2) return args;
  const CLI::App* sub = nullptr;
  for (const CLI::App* s : app.get_subcommands([](const CLI::App*) { return true; }))
    if (s->get_name() == args[1]) sub = s;
  if (!sub) return args;

  // What the command line gives, and the file it names.
  std::set<std::string> given;
  std::string config;
  for (size_t i = 2; i < args.size(); ++i) {
    const std::string& t = args[i];
    if (t == "--") break;
    if (t.rfind("--", 0) == 0) {
      const std::string name = t.substr(2, t.find('=') == std::string::npos ? std::string::npos : t.find('=') - 2);
      given.insert(name);
      if (name == "config") config = t.find('=') != std::string::npos ? t.substr(t.find('=') + 1)
                                     : i + 1 < args.size()          ? args[i + 1]
                                                                    : "";
    } else if (t.size() == 2 && t[0] == '-' && t[1] != '-') {
      given.insert(t.substr(1));
    }
  }

  std::map<std::string, std::vector<std::string>> file;  // option name -> values
  if (given.count("config")) {
    if (config.empty()) {
      *error = "--config: a file name is needed";
      return {};
    }
    std::vector<CLI::ConfigItem> items;
    try {
      items = CLI::ConfigTOML().from_file(config);
    } catch (const std::exception& e) {
      *error = "--config '" + config + "': cannot be read (" + e.what() + ")";
      return {};
    }
    for (const CLI::ConfigItem& item : items) {
      if (item.name == "++" || item.name == "--") continue;  // CLI11's marks of a table's start, end
      // Keys at the top, or in a [SUBCOMMAND] table.
      if (!item.parents.empty() && !(item.parents.size() == 1 && item.parents[0] == sub->get_name()))
        continue;
      std::string name = item.name;
      std::replace(name.begin(), name.end(), '_', '-');
      file[name] = item.inputs;
    }
  }

  std::set<std::string> known;
  std::vector<std::string> added;
  for (const CLI::Option* opt : sub->get_options()) {
    const auto& lnames = opt->get_lnames();
    if (lnames.empty() || lnames[0] == "help" || lnames[0] == "config") continue;
    // --token and --web-root read NETPULSE_TOKEN and NETPULSE_WEB_ROOT themselves, as a default
    // that does not count as given (an instance with a kafka:// input refuses --token).
    const bool own_env = lnames[0] == "token" || lnames[0] == "web-root";
    for (const auto& l : lnames) known.insert(l);
    bool on_line = false;
    for (const auto& l : lnames) on_line |= given.count(l) != 0;
    for (const auto& s : opt->get_snames()) on_line |= given.count(s) != 0;
    // The file may name an option by any of its long names.
    const std::vector<std::string>* from_file = nullptr;
    for (const auto& l : lnames)
      if (auto it = file.find(l); it != file.end()) from_file = &it->second;
    if (on_line) continue;
    const std::string env = env_name(lnames[0]);
    std::vector<std::string> values;
    if (const char* v = own_env ? nullptr : std::getenv(env.c_str())) {
      values = {v};
    } else if (from_file) {
      values = *from_file;
    } else {
      continue;
    }
    // A flag takes --name=true / --name=false as CLI11 reads them (1, 0, yes, no, on, off).
    for (const std::string& v : values) added.push_back("--" + lnames[0] + "=" + v);
  }
  for (const auto& [name, values] : file) {
    if (!known.count(name)) {
      *error = "--config '" + config + "': '" + name + "' is not an option of netpulse " + sub->get_name();
      return {};
    }
  }
  args.insert(args.begin() + 2, added.begin(), added.end());
  return args;
}

}  // namespace netpulse::cli
