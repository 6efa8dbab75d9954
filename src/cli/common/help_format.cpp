#include "cli/common/help_format.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace mos::cli {
namespace {

constexpr std::size_t kWidth = 100;    // text is wrapped to this many columns
constexpr std::size_t kMaxLabel = 32;  // a longer label puts its text on the next line

// Words of `text` in lines of at most `width` columns after `indent` spaces (the first line's
// indent is the caller's).
std::string wrap(const std::string& text, std::size_t indent, std::size_t width) {
  std::string out, line;
  std::size_t start = 0;
  auto flush = [&] {
    if (!out.empty()) out += "\n" + std::string(indent, ' ');
    out += line;
    line.clear();
  };
  while (start < text.size()) {
    std::size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    std::string word = text.substr(start, end - start);
    start = end + 1;
    if (word.empty()) continue;
    if (!line.empty() && indent + line.size() + 1 + word.size() > width) flush();
    line += (line.empty() ? "" : " ") + word;
  }
  if (!line.empty()) flush();
  return out;
}

using Row = std::pair<std::string, std::string>;

std::string section(const std::string& title, const std::vector<Row>& rows,
                    std::size_t label_width) {
  if (rows.empty()) return {};
  std::string out = "\n" + title + ":\n";
  for (const auto& [label, text] : rows) {
    std::string left = "  " + label;
    const std::size_t column = 2 + label_width + 2;
    if (text.empty()) {
      out += left + "\n";
    } else if (left.size() + 2 > column) {
      out += left + "\n" + std::string(column, ' ') + wrap(text, column, kWidth) + "\n";
    } else {
      out += left + std::string(column - left.size(), ' ') + wrap(text, column, kWidth) + "\n";
    }
  }
  return out;
}

std::vector<Row> option_rows(const std::vector<const CLI::Option*>& options) {
  std::vector<Row> rows;
  for (const auto* o : options) rows.emplace_back(option_label(*o), option_help(*o));
  return rows;
}

}  // namespace

std::string usage_line(const CLI::App& app) {
  std::string out = command_path(app);
  if (!own_options(app).empty() || !global_options(app).empty()) out += " [OPTIONS]";
  for (const auto* p : positionals(app)) {
    std::string name = value_name(*p);
    if (p->get_expected_max() > 1) name += "...";
    out += " " + (p->get_required() ? name : "[" + name + "]");
  }
  if (!visible_subcommands(app).empty())
    out += app.get_require_subcommand_min() > 0 ? " COMMAND" : " [COMMAND]";
  return out;
}

std::string option_label(const CLI::Option& option) {
  if (!option.nonpositional()) return value_name(option);
  std::string label;
  if (!option.get_snames().empty())
    label = "-" + option.get_snames().front() + (option.get_lnames().empty() ? "" : ", ");
  else
    label = "    ";  // long options line up after the short ones
  if (!option.get_lnames().empty()) label += "--" + option.get_lnames().front();
  std::string value = value_name(option);
  if (!value.empty()) label += " " + value;
  if (option.get_expected_max() > 1) label += " ...";
  return label;
}

std::string option_help(const CLI::Option& option) {
  std::string text = option.get_description();
  std::vector<std::string> notes;
  if (option.nonpositional()) {
    auto names = option_names(option);
    std::vector<std::string> aliases;
    std::size_t skip_short = option.get_snames().empty() ? 0 : 1;
    for (std::size_t i = 0; i < names.size(); ++i) {
      bool shown = (skip_short && i == 0) ||
                   (!option.get_lnames().empty() && names[i] == "--" + option.get_lnames().front());
      if (!shown) aliases.push_back(names[i]);
    }
    if (!aliases.empty()) notes.push_back(fmt::format("also {}", fmt::join(aliases, ", ")));
    if (option.get_required()) notes.push_back("required");
  }
  if (!option.get_default_str().empty())
    notes.push_back(fmt::format("default: {}", option.get_default_str()));
  if (!notes.empty()) text += fmt::format(" ({})", fmt::join(notes, "; "));
  return text;
}

std::string HelpFormatter::make_help(const CLI::App* app, std::string, CLI::AppFormatMode) const {
  const CLI::App& a = *app;
  auto own = own_options(a);
  auto global = global_options(a);
  auto args = positionals(a);
  auto subs = visible_subcommands(a);

  std::vector<Row> arg_rows = option_rows(args), own_rows = option_rows(own),
                   global_rows = option_rows(global), sub_rows;
  for (const auto* s : subs) sub_rows.emplace_back(s->get_name(), s->get_description());
  std::size_t label_width = 0;
  for (const auto* rows : {&arg_rows, &own_rows, &global_rows, &sub_rows})
    for (const auto& [label, text] : *rows)
      if (label.size() <= kMaxLabel) label_width = std::max(label_width, label.size());

  std::string out;
  if (!a.get_description().empty()) out += wrap(a.get_description(), 0, kWidth) + "\n\n";
  out += "Usage: " + usage_line(a) + "\n";
  out += section("Arguments", arg_rows, label_width);
  out += section("Options", own_rows, label_width);
  out += section("Global options", global_rows, label_width);
  out += section("Commands", sub_rows, label_width);
  if (auto it = docs_->examples.find(app); it != docs_->examples.end() && !it->second.empty()) {
    out += "\nExamples:\n";
    for (const auto& e : it->second) {
      if (!e.what.empty()) out += "  # " + e.what + "\n";
      out += "  " + e.command + "\n";
    }
  }
  std::string footer = a.get_footer();
  if (!footer.empty()) out += "\n" + wrap(footer, 0, kWidth) + "\n";
  if (!subs.empty())
    out += fmt::format("\nRun '{} COMMAND --help' for a command's options and examples.\n",
                       command_path(a));
  if (a.get_parent() == nullptr) out += std::string(kExitStatusText) + ".\n";
  return out;
}

}  // namespace mos::cli
