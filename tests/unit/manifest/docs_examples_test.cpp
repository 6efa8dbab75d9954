// Every manifest.yaml the documentation shows parses as it stands: a reader copies them.
#include <filesystem>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "manifest/manifest.hpp"
#include "unit/support/test_support.hpp"

namespace mos::manifest {
namespace {

namespace fs = std::filesystem;

// The ```yaml blocks of a markdown file that hold a manifest (a `targets:` key), with the line
// each starts on.
std::vector<std::pair<int, std::string>> manifest_blocks(const fs::path& file) {
  std::istringstream in(test::read_text(file));
  std::vector<std::pair<int, std::string>> blocks;
  std::string line, block;
  int number = 0, start = 0;
  bool inside = false;
  while (std::getline(in, line)) {
    ++number;
    if (!inside && line == "```yaml") {
      inside = true;
      start = number + 1;
      block.clear();
    } else if (inside && line == "```") {
      inside = false;
      if (block.find("\ntargets:") != std::string::npos || block.starts_with("targets:"))
        blocks.emplace_back(start, block);
    } else if (inside) {
      block += line + "\n";
    }
  }
  return blocks;
}

TEST(DocsExamples, EveryManifestInTheDocsParses) {
  fs::path docs = test::example_path("").parent_path().parent_path() / "docs";
  int seen = 0;
  for (const auto& entry : fs::directory_iterator(docs)) {
    if (entry.path().extension() != ".md") continue;
    for (const auto& [line, yaml] : manifest_blocks(entry.path())) {
      ++seen;
      auto parsed = parse_manifest_yaml(yaml, entry.path().filename().string());
      EXPECT_TRUE(parsed) << entry.path().string() << ":" << line << ": "
                          << (parsed ? "" : parsed.error().message);
    }
  }
  EXPECT_GE(seen, 1) << "no manifest.yaml example found under " << docs.string();
}

}  // namespace
}  // namespace mos::manifest
