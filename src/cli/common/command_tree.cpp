#include "cli/common/command_tree.hpp"

#include <algorithm>
#include <cctype>
#include <set>

namespace mos::cli {

std::string command_path(const CLI::App& app) {
  std::string path = app.get_name();
  for (const CLI::App* up = app.get_parent(); up != nullptr; up = up->get_parent())
    path = up->get_name() + " " + path;
  return path;
}

std::vector<const CLI::App*> visible_subcommands(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App* sub) {
    return !sub->get_name().empty() && !sub->get_group().empty() && !sub->get_disabled();
  });
}

std::vector<const CLI::Option*> own_options(const CLI::App& app) {
  return app.get_options(
      [](const CLI::Option* o) { return o->nonpositional() && !o->get_group().empty(); });
}

std::vector<const CLI::Option*> positionals(const CLI::App& app) {
  return app.get_options([](const CLI::Option* o) {
    return o->get_positional() && !o->nonpositional() && !o->get_group().empty();
  });
}

bool takes_value(const CLI::Option& option) {
  return option.get_expected_max() != 0;
}

std::vector<std::string> option_names(const CLI::Option& option) {
  std::vector<std::string> names;
  for (const auto& s : option.get_snames()) names.push_back("-" + s);
  for (const auto& l : option.get_lnames()) names.push_back("--" + l);
  return names;
}

std::vector<const CLI::Option*> global_options(const CLI::App& app) {
  std::set<std::string> taken;
  for (const auto* o : own_options(app))
    for (auto& n : option_names(*o)) taken.insert(n);
  std::vector<const CLI::App*> ancestors;
  for (const CLI::App* up = app.get_parent(); up != nullptr; up = up->get_parent())
    ancestors.push_back(up);
  std::vector<const CLI::Option*> out;
  // Nearest command first decides which of two equal names wins; listed from the root down.
  std::vector<std::vector<const CLI::Option*>> levels;
  for (const CLI::App* up : ancestors) {
    std::vector<const CLI::Option*> level;
    for (const auto* o : own_options(*up)) {
      if (o == up->get_help_ptr() || o == up->get_help_all_ptr()) continue;
      auto names = option_names(*o);
      if (std::any_of(names.begin(), names.end(), [&](auto& n) { return taken.contains(n); }))
        continue;
      for (auto& n : names) taken.insert(n);
      level.push_back(o);
    }
    levels.push_back(std::move(level));
  }
  for (auto it = levels.rbegin(); it != levels.rend(); ++it)
    out.insert(out.end(), it->begin(), it->end());
  return out;
}

std::string value_name(const CLI::Option& option) {
  if (!option.nonpositional()) return option.get_name(true, false);
  if (!takes_value(option)) return {};
  if (!option.get_option_text().empty()) return option.get_option_text();
  std::string full = option.get_type_name();
  std::string type = full.substr(0, full.find(':'));
  // A check of an existing path names its kind (CLI::ExistingFile adds ":FILE").
  if (type == "TEXT" && full.ends_with(":FILE")) return "FILE";
  if (type == "TEXT" && full.ends_with(":DIR")) return "DIR";
  static const std::set<std::string> generic{"",     "TEXT",  "BOOLEAN", "ENUM",
                                             "CHAR", "VALUE", "PATH"};
  if (type == "INT" || type == "UINT" || type == "FLOAT" || type == "NUMBER") return "N";
  if (!generic.contains(type)) return type;
  // No name given: derived from the option's long name, as argparse does (--run-dir: DIR).
  std::string name =
      option.get_lnames().empty() ? option.get_snames().front() : option.get_lnames().front();
  if (name.ends_with("dir")) return "DIR";
  if (name.ends_with("file")) return "FILE";
  std::string out;
  for (char c : name)
    out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace mos::cli
