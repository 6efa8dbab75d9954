#include "sysroot/boot_trial.hpp"

#include <cerrno>
#include <cstdio>

#include "core/file.hpp"
#include "core/json.hpp"
#include "sysroot/change_session.hpp"
#include "sysroot/system_operations.hpp"

namespace mos::sysroot {

std::filesystem::path boot_trial_path(const SysrootPaths& paths) {
  return paths.config / "boot-trial.json";
}

Result<std::optional<BootTrial>> read_boot_trial(const SysrootPaths& paths) {
  auto path = boot_trial_path(paths);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<BootTrial>{};
  MOS_TRY_ASSIGN(auto text, read_file(path, 64 * 1024));
  MOS_TRY_ASSIGN(auto json, parse_json_strict(text, path.string()));
  if (!json.is_object()) return fail("{}: expected a JSON object", path.string());
  BootTrial trial;
  MOS_TRY_ASSIGN(trial.previous, json_string(json, "previous", path.string()));
  MOS_TRY_ASSIGN(auto boots, json_int(json, "boots", path.string()));
  if (boots < 0 || boots > 1) return fail("{}: boots must be 0 or 1, not {}", path.string(), boots);
  trial.boots = static_cast<int>(boots);
  return std::optional<BootTrial>{trial};
}

Status write_boot_trial(const SysrootPaths& paths, const BootTrial& trial) {
  Json json{{"previous", trial.previous}, {"boots", trial.boots}};
  return write_file_atomic(boot_trial_path(paths), json.dump() + "\n", 0644);
}

Status remove_boot_trial(const SysrootPaths& paths) {
  auto path = boot_trial_path(paths);
  if (std::remove(path.c_str()) != 0 && errno != ENOENT)
    return fail("removing {}: {}", path.string(), errno_message(errno));
  return fsync_dir(paths.config);
}

namespace {

// The trial running on this root, with the lock still held: nullopt when there is none (a stale
// marker, left by an update killed before its commit, is removed on the way).
struct RunningTrial {
  ChangeSession session;
  BootTrial trial;
  std::string system;
};

// A marker that cannot be read must not keep the machine from booting: it is renamed to
// boot-trial.json.malformed (kept for whoever looks into it) and the system in place boots.
// Returns the line that says so.
Result<std::string> set_aside_malformed(const SysrootPaths& paths, const Error& why) {
  auto path = boot_trial_path(paths);
  auto aside = path;
  aside += ".malformed";
  if (std::rename(path.c_str(), aside.c_str()) != 0)
    return fail("{} (setting it aside as {}: {})", why.message, aside.string(),
                errno_message(errno));
  MOS_TRY(fsync_dir(paths.config));
  return fmt::format("boot trial: ignoring an unreadable marker ({}); set aside as {}", why.message,
                     aside.filename().string());
}

// set_aside: where a malformed marker's line goes (it is then set aside, and nullopt returned).
Result<std::optional<RunningTrial>> running_trial(const SysrootOptions& options,
                                                  std::string* set_aside = nullptr) {
  SysrootPaths paths(options.root);
  if (!SystemHistory::exists(paths.history)) return std::optional<RunningTrial>{};
  if (auto peek = read_boot_trial(paths); peek && !*peek) return std::optional<RunningTrial>{};
  MOS_TRY_ASSIGN(auto session, open_change_session(paths, options, false));
  auto trial = read_boot_trial(paths);  // again, under the lock
  if (!trial) {
    if (!set_aside) return std::unexpected(trial.error());
    MOS_TRY_ASSIGN(*set_aside, set_aside_malformed(paths, trial.error()));
    return std::optional<RunningTrial>{};
  }
  if (!*trial) return std::optional<RunningTrial>{};
  if (!session.head || *session.head == (*trial)->previous) {
    MOS_TRY(remove_boot_trial(paths));
    return std::optional<RunningTrial>{};
  }
  std::string system = *session.head;
  return std::optional<RunningTrial>{RunningTrial{std::move(session), **trial, std::move(system)}};
}

Result<BootTrialReport> roll_back_trial(const SysrootOptions& options, const std::string& system,
                                        const std::string& previous, std::string_view why) {
  MOS_TRY_ASSIGN(auto report, rollback(options, previous));
  return BootTrialReport{
      BootTrialStep::rolled_back,
      fmt::format("boot trial: the system {} {}: back to {} (now {})", system.substr(0, 12), why,
                  previous.substr(0, 12), report.commit.substr(0, 12))};
}

}  // namespace

Result<BootTrialReport> count_boot(const SysrootOptions& options) {
  std::string set_aside;
  MOS_TRY_ASSIGN(auto running, running_trial(options, &set_aside));
  if (!running) return BootTrialReport{BootTrialStep::none, set_aside};
  if (running->trial.boots == 0) {
    running->trial.boots = 1;
    MOS_TRY(write_boot_trial(SysrootPaths(options.root), running->trial));
    return BootTrialReport{
        BootTrialStep::first_boot,
        fmt::format("boot trial: first boot of the system {}; until it comes up, the next boot "
                    "returns to {}",
                    running->system.substr(0, 12), running->trial.previous.substr(0, 12))};
  }
  auto system = running->system, previous = running->trial.previous;
  running.reset();  // rollback takes the lock itself
  auto back = roll_back_trial(options, system, previous, "did not come up on its last boot");
  if (back) return back;
  // Better the system on trial again than no boot at all.
  return BootTrialReport{
      BootTrialStep::none,
      fmt::format("boot trial: the system {} did not come up on its last boot, but {} cannot be "
                  "returned to ({}): booting it again",
                  system.substr(0, 12), previous.substr(0, 12), back.error().message)};
}

Result<BootTrialReport> abandon_trial(const SysrootOptions& options) {
  std::string set_aside;
  MOS_TRY_ASSIGN(auto running, running_trial(options, &set_aside));
  if (!running) return BootTrialReport{BootTrialStep::none, set_aside};
  auto system = running->system, previous = running->trial.previous;
  running.reset();
  return roll_back_trial(options, system, previous, "failed to boot");
}

Result<bool> confirm_boot(const SysrootOptions& options) {
  std::string set_aside;  // a marker set aside ends no trial: this boot was never counted
  MOS_TRY_ASSIGN(auto running, running_trial(options, &set_aside));
  // A marker not yet counted belongs to an update applied while this boot ran: the system it
  // installed has not booted yet, so this boot proves nothing about it.
  if (!running || running->trial.boots == 0) return false;
  MOS_TRY(remove_boot_trial(SysrootPaths(options.root)));
  return true;
}

}  // namespace mos::sysroot
