// Which stacker files are read (prerequisites first) and in which order their images build.
#include <set>

#include <spdlog/spdlog.h>

#include "core/file.hpp"
#include "stacker/stacker_file.hpp"

namespace mos::stacker {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxStackerFile = 4 << 20;

Status load(const fs::path& path, const Substitutions& values, const std::string* missing,
            std::vector<fs::path>& visiting, std::vector<StackerFile>& out) {
  fs::path absolute = fs::absolute(path).lexically_normal();
  for (const auto& done : out)
    if (done.path == absolute) return {};
  for (const auto& open : visiting)
    if (open == absolute)
      return fail("{}: the prerequisites form a cycle through this file", absolute.string());
  MOS_TRY_ASSIGN(auto text, read_file(absolute, kMaxStackerFile));
  MOS_TRY_ASSIGN(auto substituted, substitute(text, values, absolute.string(), missing));
  MOS_TRY_ASSIGN(auto file, parse_stacker_file(substituted, absolute));
  visiting.push_back(absolute);
  for (const auto& pre : file.prerequisites)
    MOS_TRY(with_context(load(pre, values, missing, visiting, out),
                         fmt::format("{}: prerequisite {}", absolute.string(), pre.string())));
  visiting.pop_back();
  out.push_back(std::move(file));
  return {};
}

}  // namespace

Result<std::vector<StackerFile>> load_stacker_files(const fs::path& path,
                                                    const Substitutions& values,
                                                    const std::string* missing) {
  std::vector<StackerFile> files;
  std::vector<fs::path> visiting;
  MOS_TRY(load(path, values, missing, visiting, files));
  std::set<std::string> names;
  for (const auto& file : files)
    for (const auto& layer : file.layers)
      if (!names.insert(layer.name).second)
        return fail("{}:{}: duplicate layer name {} (another stacker file of this build has it)",
                    layer.file, layer.line, layer.name);
  return files;
}

Result<std::vector<const LayerSpec*>> build_order(const std::vector<StackerFile>& files) {
  std::set<std::string> known;
  for (const auto& file : files)
    for (const auto& layer : file.layers) known.insert(layer.name);
  for (const auto& file : files)
    for (const auto& layer : file.layers)
      for (const auto& dep : layer.dependencies())
        if (!known.contains(dep))
          return fail("{}:{}: image {} needs image {}, which no stacker file of this build has",
                      layer.file, layer.line, layer.name, dep);

  std::vector<const LayerSpec*> order;
  std::set<std::string> built;
  for (const auto& file : files) {
    std::vector<const LayerSpec*> waiting;
    for (const auto& layer : file.layers) waiting.push_back(&layer);
    while (!waiting.empty()) {
      auto ready = std::find_if(waiting.begin(), waiting.end(), [&](const LayerSpec* layer) {
        for (const auto& dep : layer->dependencies())
          if (!built.contains(dep)) return false;
        return true;
      });
      if (ready == waiting.end()) {
        std::vector<std::string> names;
        for (const auto* layer : waiting) names.push_back(layer->name);
        return fail("{}: couldn't resolve some dependencies: {} wait for each other",
                    file.path.string(), fmt::join(names, ", "));
      }
      built.insert((*ready)->name);
      order.push_back(*ready);
      waiting.erase(ready);
    }
  }
  return order;
}

}  // namespace mos::stacker
