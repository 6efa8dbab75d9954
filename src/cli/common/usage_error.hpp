#pragma once
// Usage errors (exit status 2) in one line, as `git` and cobra programs give them: an unknown
// command or option is named with the command it was given to, and a misspelling gets a
// "did you mean 'X'?" from the names valid at that point (edit distance, or a unique prefix).
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

namespace mos::cli {

struct UsageError {
  std::string message;                // one line, without the "PROGRAM: error: " prefix
  const CLI::App* help_of = nullptr;  // a command whose help follows (a missing subcommand)
};

// Explains a failed parse of `root`, looking at what the parser left unused and where it
// stopped.
UsageError describe_usage_error(const CLI::App& root, const CLI::ParseError& error);

// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
// neighbours cost 1 each.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidates the user probably meant by `typed` (leading dashes ignored): those it is a prefix
// of, else the nearest within a distance that grows with its length (1 up to 5 characters, 2 up
// to 8, then 3); empty when none is near.
std::vector<std::string> suggestions(std::string_view typed,
                                     const std::vector<std::string>& candidates);

}  // namespace mos::cli
