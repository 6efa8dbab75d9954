#include "cli/common/usage_error.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/common/command_tree.hpp"

namespace mos::cli {
namespace {

std::string_view strip_dashes(std::string_view s) {
  while (s.starts_with('-')) s.remove_prefix(1);
  return s;
}

// "did you mean 'a'?", "did you mean 'a' or 'b'?"
std::string did_you_mean(const std::vector<std::string>& names) {
  std::vector<std::string> quoted;
  for (const auto& n : names) quoted.push_back(fmt::format("'{}'", n));
  std::string list;
  for (std::size_t i = 0; i < quoted.size(); ++i) {
    if (i > 0) list += i + 1 == quoted.size() ? " or " : ", ";
    list += quoted[i];
  }
  return fmt::format("did you mean {}?", list);
}

std::vector<std::string> command_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const auto* sub : visible_subcommands(app)) names.push_back(sub->get_name());
  return names;
}

// Every spelling of every option `app` accepts, its own and its parents'.
std::vector<std::string> accepted_option_names(const CLI::App& app) {
  std::vector<std::string> names;
  auto add = [&](const std::vector<const CLI::Option*>& options) {
    for (const auto* o : options)
      for (auto& n : option_names(*o)) names.push_back(n);
  };
  add(own_options(app));
  add(global_options(app));
  return names;
}

std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

}  // namespace

std::size_t edit_distance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}

std::vector<std::string> suggestions(std::string_view typed,
                                     const std::vector<std::string>& candidates) {
  std::string_view word = strip_dashes(typed);
  if (word.empty()) return {};
  std::vector<std::string> out;
  auto add = [&](const std::string& c) {
    if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  };
  for (const auto& c : candidates)
    if (strip_dashes(c).starts_with(word)) add(c);
  if (!out.empty()) return out.size() <= 3 ? out : std::vector<std::string>{};
  const std::size_t limit = word.size() <= 5 ? 1 : word.size() <= 8 ? 2 : 3;
  std::size_t best = limit + 1;
  for (const auto& c : candidates) {
    std::size_t d = edit_distance(word, strip_dashes(c));
    if (d < best) {
      best = d;
      out.clear();
    }
    if (d == best) add(c);
  }
  if (best > limit || out.size() > 3) return {};
  return out;
}

UsageError describe_usage_error(const CLI::App& root, const CLI::ParseError& error) {
  // The command the parser got to: the last command given on the command line.
  const CLI::App* at = &root;
  for (bool deeper = true; deeper;) {
    deeper = false;
    for (const CLI::App* sub : at->get_subcommands()) {
      if (!sub->get_name().empty()) {
        at = sub;
        deeper = true;
        break;
      }
    }
  }
  const std::string path = command_path(*at);
  const std::string see = fmt::format("(see '{} --help')", path);

  // What no command took, in command-line order. Where a command is expected, a first word that
  // is none is a misspelt command (and what follows it was meant for that command). Otherwise
  // an unknown option comes first: a misspelt option is what usually leaves a value behind.
  std::vector<std::string> unused = root.remaining(true);
  std::erase(unused, "--");
  auto is_option = [](const std::string& s) { return s.size() > 1 && s[0] == '-'; };
  auto commands = command_names(*at);
  auto option = std::find_if(unused.begin(), unused.end(), is_option);
  if (!commands.empty() && !unused.empty() && !is_option(unused.front())) option = unused.end();
  if (option != unused.end()) {
    std::string typed = option->substr(0, option->find('='));
    auto valid = accepted_option_names(*at);
    if (std::find(valid.begin(), valid.end(), typed) != valid.end())
      return {fmt::format("option '{}' belongs after the command: {} {} ...", typed, path, typed)};
    auto near = suggestions(typed, valid);
    if (!near.empty())
      return {fmt::format("unknown option '{}' for '{}'; {}", typed, path, did_you_mean(near))};
    return {fmt::format("unknown option '{}' for '{}' {}", typed, path, see)};
  }
  if (!unused.empty()) {
    const std::string& word = unused.front();
    if (commands.empty())
      return {fmt::format("unexpected argument '{}' for '{}' {}", word, path, see)};
    auto near = suggestions(word, commands);
    if (!near.empty())
      return {fmt::format("unknown command '{}' for '{}'; {}", word, path, did_you_mean(near))};
    return {fmt::format("unknown command '{}' for '{}' (commands: {})", word, path,
                        fmt::join(commands, ", "))};
  }
  if (!commands.empty() && at->get_require_subcommand_min() > 0)
    return {fmt::format("missing command for '{}' (one of: {})", path, fmt::join(commands, ", ")),
            at};
  return {fmt::format("{} {}", one_line(error.what()), see)};
}

}  // namespace mos::cli
