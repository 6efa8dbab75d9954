// mosb login / logout: a registry's credentials in an auth file, as skopeo login/logout do
// (docs/oci.md). Login checks them against the registry before anything is written.
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "cli/common/access_flags.hpp"
#include "cli/mosb/commands.hpp"
#include "core/file.hpp"
#include "core/text.hpp"
#include "oci/reference.hpp"
#include "oci/registry_auth.hpp"
#include "oci/registry_client.hpp"

namespace mos::cli {
namespace {

using namespace mos::oci;

// "HOST[:PORT]" of REGISTRY as users write it: HOST[:PORT], docker://HOST, https://HOST/v2/ or
// HOST/REPO (its host); the same spelling references use, so lookups find the entry.
Result<std::string> registry_host(std::string_view text) {
  std::string_view rest = text;
  for (std::string_view scheme : {"docker://", "https://", "http://"})
    if (rest.starts_with(scheme)) {
      rest.remove_prefix(scheme.size());
      break;
    }
  rest = rest.substr(0, rest.find('/'));
  if (rest.empty() || !Reference::parse(fmt::format("{}/x", rest)))
    return fail("\"{}\" is not a registry: expected HOST[:PORT], such as 127.0.0.1:5000", text);
  return std::string(rest);
}

// All of stdin (a password piped in), without the line end echo or a here-string adds.
Result<std::string> read_stdin_password() {
  std::string all;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(0, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("--password-stdin: reading stdin: {}", errno_message(errno));
    if (n == 0) break;
    all.append(buffer, static_cast<std::size_t>(n));
    if (all.size() > 64 * 1024) return fail("--password-stdin: more than 64 KiB on stdin");
  }
  if (all.ends_with('\n')) all.pop_back();
  if (all.ends_with('\r')) all.pop_back();
  if (all.empty()) return fail("--password-stdin: stdin held no password");
  return all;
}

// One line typed on the terminal (stdin), echoed or not.
Result<std::string> ask(std::string_view label, bool echo) {
  std::fprintf(stderr, "%.*s: ", static_cast<int>(label.size()), label.data());
  std::fflush(stderr);
  termios saved{};
  bool restore = false;
  if (!echo && ::tcgetattr(0, &saved) == 0) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    restore = ::tcsetattr(0, TCSAFLUSH, &quiet) == 0;
  }
  std::string line;
  bool ended = false;
  for (;;) {
    char c = 0;
    ssize_t n = ::read(0, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (c == '\n') {
      ended = true;
      break;
    }
    if (line.size() < 64 * 1024) line += c;
  }
  if (restore) {
    ::tcsetattr(0, TCSAFLUSH, &saved);
    std::fputc('\n', stderr);
  }
  if (line.ends_with('\r')) line.pop_back();
  if (line.empty() && !ended) return fail("no {} given (end of input)", to_lower_ascii(label));
  return line;
}

struct LoginArgs {
  std::string registry;
  std::string username;
  std::string password;
  CLI::Option* password_option = nullptr;
  bool password_stdin = false;
  std::string authfile;
  AccessFlags tls;
};

Result<std::filesystem::path> auth_file_of(const std::string& given) {
  if (!given.empty()) return std::filesystem::path(given);
  return default_auth_file();
}

Status login_command(const LoginArgs& args) {
  MOS_TRY_ASSIGN(auto host, registry_host(args.registry));
  bool password_given = args.password_option && args.password_option->count() > 0;
  if (args.password_stdin && password_given)
    return fail("give the password with --password-stdin or with --password, not both");
  bool terminal = ::isatty(0) == 1;
  std::string user = args.username;
  if (user.empty()) {
    if (args.password_stdin || !terminal)
      return fail("no user name: give it with -u USER (stdin is {})",
                  args.password_stdin ? "the password" : "not a terminal to ask on");
    MOS_TRY_ASSIGN(user, ask("Username", true));
  }
  if (user.empty()) return fail("the user name is empty");
  if (user.find(':') != std::string::npos)
    return fail("user name \"{}\" contains ':', which Basic authentication cannot carry", user);
  std::string password;
  if (args.password_stdin) {
    MOS_TRY_ASSIGN(password, read_stdin_password());
  } else if (password_given) {
    spdlog::warn(
        "warning: a password on the command line is visible to other users of this machine "
        "(ps, shell history): use --password-stdin");
    password = args.password;
  } else if (terminal) {
    MOS_TRY_ASSIGN(password, ask("Password", false));
  } else {
    return fail(
        "no password: pipe it in with --password-stdin (stdin is not a terminal to ask on)");
  }
  if (password.empty()) return fail("the password is empty");

  MOS_TRY_ASSIGN(auto file, auth_file_of(args.authfile));
  MOS_TRY_ASSIGN(auto options, open_options(args.tls, false));
  options.registry.username = user;
  options.registry.password = password;
  MOS_TRY_ASSIGN(auto client, RegistryClient::create(host, options.registry));
  if (auto ok = client->ping(); !ok)
    return context(fmt::format("logging in to {} as \"{}\"", host, user), ok.error());
  if (!client->asked_for_credentials())
    spdlog::warn("warning: {} asks for no credentials: they are stored without a check", host);
  MOS_TRY_ASSIGN(auto stored, store_credentials(file, host, Credentials{user, password}));
  spdlog::info("credentials of \"{}\" for {} stored {}", user, host,
               stored.helper
                   ? fmt::format("by {} (credHelpers of {})", *stored.helper, stored.file.string())
                   : fmt::format("in {}", stored.file.string()));
  std::printf("Login Succeeded!\n");
  return {};
}

struct LogoutArgs {
  std::string registry;
  std::string authfile;
  bool all = false;
};

Status logout_command(const LogoutArgs& args) {
  if (args.all && !args.registry.empty()) return fail("give a REGISTRY or --all, not both");
  if (!args.all && args.registry.empty())
    return fail("give the REGISTRY to log out of (or --all for every one)");
  MOS_TRY_ASSIGN(auto file, auth_file_of(args.authfile));
  if (args.all) {
    MOS_TRY_ASSIGN(auto removed, erase_all_credentials(file));
    spdlog::info("{} entries removed from {}", removed, file.string());
    std::printf("Removed login credentials for all registries\n");
    return {};
  }
  MOS_TRY_ASSIGN(auto host, registry_host(args.registry));
  MOS_TRY_ASSIGN(bool removed, erase_credentials(file, host));
  if (!removed) {
    // Credentials found elsewhere in the lookup order are named, so the user knows where.
    if (args.authfile.empty())
      for (const auto& other : auth_file_candidates()) {
        if (other == file) continue;
        auto found = credentials_from_auth_file(other, host);
        if (found && *found)
          return fail(
              "not logged in to {} in {}; the credentials used for it come from {} (mosb logout "
              "--authfile {} {})",
              host, file.string(), other.string(), other.string(), host);
      }
    return fail("not logged in to {}: {} has no credentials for it", host, file.string());
  }
  std::printf("Removed login credentials for %s\n", host.c_str());
  return {};
}

}  // namespace

void add_login_commands(Program& program) {
  auto& app = program.app();
  static LoginArgs login_args;
  auto* login = app.add_subcommand(
      "login",
      "Check credentials against a registry and store them in an auth file (as skopeo login)");
  login->add_option("REGISTRY", login_args.registry, "Registry host: HOST[:PORT]")->required();
  login->add_option("-u,--username", login_args.username, "User name (asked for when missing)")
      ->type_name("USER");
  login_args.password_option =
      login
          ->add_option("-p,--password", login_args.password,
                       "Password (visible to other users: prefer --password-stdin or the prompt)")
          ->type_name("PASSWORD");
  login->add_flag("--password-stdin", login_args.password_stdin, "Read the password from stdin");
  login
      ->add_option("--authfile", login_args.authfile,
                   "Auth file to write; default: $REGISTRY_AUTH_FILE, else "
                   "$XDG_RUNTIME_DIR/containers/auth.json, else ~/.config/containers/auth.json")
      ->type_name("FILE");
  add_tls_flags(login, login_args.tls);
  program.examples(login, {{"Log in, the password typed at the prompt (not echoed)",
                            "mosb login -u alice 127.0.0.1:5000"},
                           {"Log in from a script, the password on stdin",
                            "printf '%s' \"$PASSWORD\" | mosb login -u alice --password-stdin "
                            "registry.example.com"}});
  program.on_run(login, [] { return login_command(login_args); });

  static LogoutArgs logout_args;
  auto* logout = app.add_subcommand(
      "logout", "Remove a registry's credentials from the auth file (as skopeo logout)");
  logout->add_option("REGISTRY", logout_args.registry, "Registry host: HOST[:PORT]");
  logout->add_flag("--all", logout_args.all, "Remove the credentials of every registry");
  logout
      ->add_option("--authfile", logout_args.authfile,
                   "Auth file to edit (default: the one mosb login writes)")
      ->type_name("FILE");
  program.examples(logout,
                   {{"Forget the credentials of one registry", "mosb logout 127.0.0.1:5000"},
                    {"Forget them all", "mosb logout --all"}});
  program.on_run(logout, [] { return logout_command(logout_args); });
}

}  // namespace mos::cli
