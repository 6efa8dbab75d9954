#pragma once
// The container a `run:` script executes in, as stacker gives it (spec: stacker.md §4): the
// layer's rootfs an overlay of the layers below (read-only) and an upper directory that becomes
// the new layer; the imports read-only under /stacker; its own mount, pid, UTS (hostname
// "stacker") and IPC namespaces with the host's network; /proc, a minimal /dev, /sys read-only and
// the host's resolv.conf; no stdin. The mounts live in the container's mount namespace, so
// nothing is left mounted on the host whatever happens to the build.
//
// Why not liblxc, as the services use: a build needs none of a service's supervision, and every
// mount here must be undone with the process, which a private namespace of the child gives.
#include <filesystem>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace mos::stacker {

struct BuildContainer {
  std::filesystem::path work_dir;             // lowers are given relative to it; holds the rest
  std::vector<std::filesystem::path> lowers;  // relative to work_dir, the top layer first
  std::filesystem::path upper, overlay_work, rootfs;  // absolute
  std::filesystem::path imports;                      // mounted read-only at `imports_at`
  std::string imports_at = "/stacker/imports";
  struct Bind {
    std::filesystem::path source;
    std::string dest;
  };
  std::vector<Bind> binds;               // read-write, as stacker's binds
  std::vector<std::string> argv;         // run inside the container
  std::vector<std::string> environment;  // the whole environment (K=V)
  std::string name;                      // for messages
};

struct ContainerRun {
  int exit_code = 0;
  std::string output_tail;           // the last lines the script wrote (stdout and stderr)
  std::vector<std::string> created;  // mount points made in the rootfs, outermost first
};

// Runs argv in the container and waits for it. Its output is copied to this process's stderr as
// it comes. Fails when the container cannot be set up; the script's own failure is exit_code.
Result<ContainerRun> run_build_container(const BuildContainer& container);

// The environment of a run script: stacker's PATH, the host variables `passthrough` lets in
// (anchored regular expressions; stacker's default list when none are given), then build_env,
// then STACKER_LAYER_NAME.
Result<std::vector<std::string>> run_environment(
    const std::string& layer, const std::vector<std::pair<std::string, std::string>>& build_env,
    const std::vector<std::string>* passthrough);

}  // namespace mos::stacker
