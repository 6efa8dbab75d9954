#pragma once
// Results and errors used throughout the library: fallible functions return Result<T>; the
// programs turn an Error into one line on stderr and a non-zero exit.
#include <expected>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace mos {

struct Error {
  std::string message;
};

template <class T = void>
using Result = std::expected<T, Error>;
using Status = Result<void>;

template <class... Args>
[[nodiscard]] std::unexpected<Error> fail(fmt::format_string<Args...> format, Args&&... args) {
  return std::unexpected(Error{fmt::format(format, std::forward<Args>(args)...)});
}

// Prefixes an error with what was being done: "reading index.json: unexpected end of input".
[[nodiscard]] inline std::unexpected<Error> context(std::string_view what, Error error) {
  return std::unexpected(Error{fmt::format("{}: {}", what, error.message)});
}

// The same for a whole result: its error prefixed with `what`, its value passed through
// (libstdc++ 12 has no std::expected::transform_error yet).
template <class T>
[[nodiscard]] Result<T> with_context(Result<T> result, std::string_view what) {
  if (!result) return context(what, std::move(result).error());
  return result;
}

}  // namespace mos

#define MOS_CONCAT_INNER(a, b) a##b
#define MOS_CONCAT(a, b) MOS_CONCAT_INNER(a, b)

// Returns the error of a failed Result from the enclosing function.
#define MOS_TRY(expr)                                            \
  do {                                                           \
    if (auto mos_try_result = (expr); !mos_try_result)           \
      return std::unexpected(std::move(mos_try_result).error()); \
  } while (0)

// Declares `decl` from the value of a Result, or returns its error: MOS_TRY_ASSIGN(auto x, f());
// It expands to several statements: wrap it in braces under an if or a loop.
#define MOS_TRY_ASSIGN(decl, expr) MOS_TRY_ASSIGN_IMPL(MOS_CONCAT(mos_try_, __LINE__), decl, expr)
#define MOS_TRY_ASSIGN_IMPL(tmp, decl, expr)                \
  auto tmp = (expr);                                        \
  if (!tmp) return std::unexpected(std::move(tmp).error()); \
  decl = std::move(*tmp)
